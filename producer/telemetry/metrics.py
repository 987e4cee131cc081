"""Every Prometheus metric of the producer, created against an injected registry.

Side channel of the flow: components receive a ``DomainMetrics`` (the metrics bound to their
domain label) and call one method per occurrence; nothing else imports ``prometheus_client``
except ``telemetry/server.py``. Labels are low-cardinality only (domain, outcome, kind,
status_class, reason): never a URL, an id, a token or a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["DomainMetrics", "Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180)
_WINDOW_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class Metrics:
    """The metric families; one instance per process (or per test, on a fresh registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.records = Counter(
            "mesh_records_total",
            "Source records by outcome: fetched = landed + dead_lettered for windows in scope; "
            "out_of_window were returned by the source but belong to another window.",
            ["domain", "outcome"],
            registry=registry,
        )
        self.objects = Counter(
            "mesh_objects_written_total",
            "Lake objects written, by kind (data, dlq, checkpoint).",
            ["domain", "kind"],
            registry=registry,
        )
        self.objects_unchanged = Counter(
            "mesh_objects_unchanged_total",
            "Lake objects not rewritten because identical content was already there.",
            ["domain", "kind"],
            registry=registry,
        )
        self.bytes = Counter(
            "mesh_bytes_written_total",
            "Compressed bytes written to the lake, by kind.",
            ["domain", "kind"],
            registry=registry,
        )
        self.api_requests = Counter(
            "mesh_api_requests_total",
            "Platform API responses by status class (2xx, 4xx, 429, 5xx, error).",
            ["domain", "status_class"],
            registry=registry,
        )
        self.api_latency = Histogram(
            "mesh_api_request_duration_seconds",
            "Platform API request latency, per attempt.",
            ["domain"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.api_retries = Counter(
            "mesh_api_retries_total",
            "Platform API requests retried, by reason (throttled, server_error, connection, "
            "bad_body, unauthorized).",
            ["domain", "reason"],
            registry=registry,
        )
        self.throttles = Counter(
            "mesh_throttled_total",
            "429 responses received from the platform.",
            ["domain"],
            registry=registry,
        )
        self.limiter_wait = Histogram(
            "mesh_ratelimit_wait_seconds",
            "Time a request waited for the rate limiter (own quota and Retry-After pauses).",
            ["domain"],
            buckets=_WAIT_BUCKETS,
            registry=registry,
        )
        self.quota = Gauge(
            "mesh_ratelimit_quota_per_minute",
            "The domain's current request quota per minute.",
            ["domain"],
            registry=registry,
        )
        self.token_refreshes = Counter(
            "mesh_token_refreshes_total",
            "OAuth client-credentials grants, by outcome (success, failure).",
            ["domain", "outcome"],
            registry=registry,
        )
        self.token_expiry = Gauge(
            "mesh_token_expiry_timestamp_seconds",
            "Unix time at which the domain's current token expires (0: none held). "
            "Seconds until expiry = this - time().",
            ["domain"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "mesh_auth_failures_total",
            "Authentication failures by reason (invalid_client, unauthorized_client, "
            "bad_credentials, token_endpoint_error, secret_unavailable).",
            ["domain", "reason"],
            registry=registry,
        )
        self.windows = Counter(
            "mesh_windows_total",
            "Windows processed, by outcome (landed, failed).",
            ["domain", "outcome"],
            registry=registry,
        )
        self.resweeps = Counter(
            "mesh_resweeps_total",
            "Landed windows exported again for late data, by outcome (changed: objects "
            "rewritten and the checkpoint updated; unchanged: nothing written).",
            ["domain", "outcome"],
            registry=registry,
        )
        self.older_major_records = Counter(
            "mesh_older_major_records_total",
            "During a major migration, records of committed windows written in the older major, "
            "by version and outcome (landed, dead_lettered).",
            ["domain", "version", "outcome"],
            registry=registry,
        )
        self.older_major_subscribers = Gauge(
            "mesh_older_major_subscribers",
            "During a major migration, consumers subscribed to the older major written side by "
            "side (0: it can stop being written), as last read from the registry.",
            ["domain", "version"],
            registry=registry,
        )
        self.window_duration = Histogram(
            "mesh_window_duration_seconds",
            "Wall time from a window's first request to its committed checkpoint.",
            ["domain"],
            buckets=_WINDOW_BUCKETS,
            registry=registry,
        )
        self.watermark = Gauge(
            "mesh_watermark_timestamp_seconds",
            "End of the last window fully landed (the checkpoint), as Unix time.",
            ["domain"],
            registry=registry,
        )
        self.source_available = Gauge(
            "mesh_source_available_timestamp_seconds",
            "The source's data availability date, as Unix time (lag = this - watermark).",
            ["domain"],
            registry=registry,
        )
        self.window_seconds = Gauge(
            "mesh_window_seconds",
            "The domain's window length (a domain exported in consecutive windows): the unit of "
            "the export-lag alert.",
            ["domain"],
            registry=registry,
        )
        self.ready = Gauge(
            "mesh_domain_ready",
            "1 when the domain holds a token and its worker is running, else 0.",
            ["domain"],
            registry=registry,
        )
        self.restarts = Counter(
            "mesh_domain_restarts_total",
            "Times a domain's worker failed and was restarted by its supervisor.",
            ["domain"],
            registry=registry,
        )
        self.alerts = Counter(
            "mesh_alerts_total",
            "Dead-letter alerts by outcome: triggered (threshold crossed, queued), sent, "
            "retried (a failed attempt to be retried), failed (given up), dropped (queue full).",
            ["domain", "outcome"],
            registry=registry,
        )

        self.events = Counter(
            "mesh_events_total",
            "Events on the domain's stream, by outcome: published (accepted by the stream), "
            "retried (entries sent again after a refusal), failed (a publish given up: the "
            "window fails), too_large (over the stream's record limit, kept in the lake), "
            "unchanged (a re-export's events the stream already holds: not sent again).",
            ["domain", "outcome"],
            registry=registry,
        )
        self.stream_throttles = Counter(
            "mesh_stream_throttled_total",
            "Throughput refusals from the domain's stream (whole calls and failed entries).",
            ["domain"],
            registry=registry,
        )

    def for_domain(self, domain: str) -> DomainMetrics:
        """The metrics bound to one domain's label."""
        return DomainMetrics(self, domain)


@dataclass(frozen=True, slots=True)
class DomainMetrics:
    """One domain's view of ``Metrics``: one method per observable occurrence."""

    families: Metrics
    domain: str

    def records(self, outcome: str, count: int = 1) -> None:
        if count:
            self.families.records.labels(self.domain, outcome).inc(count)

    def object_written(self, kind: str, size_bytes: int) -> None:
        self.families.objects.labels(self.domain, kind).inc()
        self.families.bytes.labels(self.domain, kind).inc(size_bytes)

    def object_unchanged(self, kind: str) -> None:
        self.families.objects_unchanged.labels(self.domain, kind).inc()

    def api_response(self, status_class: str, seconds: float) -> None:
        self.families.api_requests.labels(self.domain, status_class).inc()
        self.families.api_latency.labels(self.domain).observe(seconds)

    def api_retry(self, reason: str) -> None:
        self.families.api_retries.labels(self.domain, reason).inc()

    def throttled(self) -> None:
        self.families.throttles.labels(self.domain).inc()

    def limiter_waited(self, seconds: float) -> None:
        self.families.limiter_wait.labels(self.domain).observe(seconds)

    def quota(self, per_minute: float) -> None:
        self.families.quota.labels(self.domain).set(per_minute)

    def token_refreshed(self, outcome: str) -> None:
        self.families.token_refreshes.labels(self.domain, outcome).inc()

    def token_expiry(self, unix_seconds: float) -> None:
        self.families.token_expiry.labels(self.domain).set(unix_seconds)

    def auth_failed(self, reason: str) -> None:
        self.families.auth_failures.labels(self.domain, reason).inc()

    def window_done(self, outcome: str, seconds: float) -> None:
        self.families.windows.labels(self.domain, outcome).inc()
        if outcome == "landed":
            self.families.window_duration.labels(self.domain).observe(seconds)

    def older_major_records(self, version: str, outcome: str, count: int) -> None:
        self.families.older_major_records.labels(self.domain, version, outcome).inc(count)

    def older_major_subscribers(self, version: str, count: int) -> None:
        self.families.older_major_subscribers.labels(self.domain, version).set(count)

    def resweep(self, outcome: str) -> None:
        self.families.resweeps.labels(self.domain, outcome).inc()

    def watermark(self, unix_seconds: float) -> None:
        self.families.watermark.labels(self.domain).set(unix_seconds)

    def source_available(self, unix_seconds: float) -> None:
        self.families.source_available.labels(self.domain).set(unix_seconds)

    def window_length(self, seconds: int) -> None:
        self.families.window_seconds.labels(self.domain).set(seconds)

    def ready(self, is_ready: bool) -> None:
        self.families.ready.labels(self.domain).set(1 if is_ready else 0)

    def restarted(self) -> None:
        self.families.restarts.labels(self.domain).inc()

    def events(self, outcome: str, count: int = 1) -> None:
        if count:
            self.families.events.labels(self.domain, outcome).inc(count)

    def stream_throttled(self, count: int) -> None:
        if count:
            self.families.stream_throttles.labels(self.domain).inc(count)

    def alert(self, outcome: str) -> None:
        self.families.alerts.labels(self.domain, outcome).inc()
