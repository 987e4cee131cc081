"""Simulator state: configuration, fault switches, tokens, rate windows, jobs and observations.

One ``Simulator`` per served app. Tests and the demo drive it through its switches
(``fail_next``, ``throttle_next``, ``revoke_tokens``…) and assert on what it observed
(``requests``, ``tokens_issued``). The route modules read and update it; it holds no sockets.
Tokens are kept in memory only to check them: records carry a fingerprint, never a token.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from producer.platforms.genesys.simulator import data, evaluations, scorecards
from producer.platforms.genesys.simulator.faults import BAD_PAGES, BadPage, Fault, FaultPlan
from producer.platforms.genesys.simulator.jobs import Job, JobOutcome
from producer.platforms.genesys.simulator.timeline import epoch_ms
from producer.platforms.genesys.simulator.workforce import SearchShape, Workforce

__all__ = [
    "RateDecision",
    "RequestRecord",
    "Simulator",
    "SimulatorConfig",
    "TokenGrant",
    "token_fingerprint",
]

_WINDOW_SECONDS = 60.0
_ORG_WINDOW = "org"  # the shared window's key (token fingerprints are 8 hex digits)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def token_fingerprint(token: str) -> str:
    """First 8 hex digits of the token's SHA-256: safe to log and compare, not to use."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


@dataclass
class SimulatorConfig:
    """Knobs of the simulated platform; [U] facts of the reference are knobs, never constants."""

    clients: dict[str, str]
    # client id -> the permissions its role holds; clients not named hold every permission
    client_permissions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    token_lifetime_seconds: int = 86399
    rate_limit_per_minute: int = 300
    # An org-wide budget over every token (0 = none): the burst scenario's throttled shared quota.
    org_rate_limit_per_minute: int = 0
    conversations_per_hour: float = 240.0
    seed: int = 7
    # 0: every conversation built from its own seed. N > 0: N bodies per kind, re-stamped with
    # each conversation's id and times (serving speed for benchmarks; see ``data.record``).
    distinct_conversations: int = 0
    availability_lag_seconds: float = 900.0
    job_queued_seconds: float = 0.05
    job_pending_seconds: float = 0.2
    job_expiry_seconds: float = 3600.0
    max_concurrent_jobs: int = 5
    results_page_size_default: int = 1000
    results_page_size_max: int = 1000
    now: Callable[[], datetime] = _utc_now
    # beyond the shared API: more [U] knobs and the monotonic clock seam
    invalid_client_status: int = 401
    rotation_revokes_tokens: bool = False
    omit_empty_conversations: bool = True
    monotonic: Callable[[], float] = time.monotonic
    # quality evaluations (reference §6): volume, lifecycle, and the search's [U] facts as knobs
    evaluations_per_hour: float = 20.0
    evaluation_rescore_ratio: float = 0.15
    evaluation_quirk_ratio: float = 0.03
    evaluation_index_lag_seconds: float = 60.0
    evaluation_search_date_fields: tuple[str, ...] = evaluations.DATE_FIELDS
    evaluation_search_page_size_default: int = 25
    evaluation_search_page_size_max: int = 100
    evaluation_search_max_months: int = 3
    evaluation_search_end_inclusive: bool = True
    evaluation_media_types: tuple[tuple[str, str], ...] = (
        ("voice", "CALL"),
        ("callback", "CALLBACK"),
        ("chat", "CHAT"),
        ("email", "EMAIL"),
        ("message", "MESSAGE"),
    )
    # WFM (reference §7): schedules, the agent-schedule search's response shapes, downloads
    wfm_agents_per_unit: int = 8  # business units get 1.5x, 1x and 0.5x this many agents
    wfm_published_weeks_ahead: int = 3  # weeks after the current BU week that are published
    wfm_invalid_shift_ratio: float = 0.03  # shifts that break the contract on purpose
    wfm_search_shape: SearchShape = "auto"  # auto: inline, or a downloadUrl when large
    wfm_inline_max_shifts: int = 50  # "auto": a larger result comes as a downloadUrl
    wfm_async_over_days: float | None = None  # a longer search range answers Processing
    wfm_search_max_days: int = 31  # a longer range is a 400 invalid.date [U]
    wfm_download_ttl_seconds: float = 300.0  # how long a pre-signed download URL works

    def __post_init__(self) -> None:
        if self.token_lifetime_seconds <= 0 or self.rate_limit_per_minute < 0:
            raise ValueError("token lifetime must be > 0 and rate limit >= 0")
        if self.results_page_size_default > self.results_page_size_max:
            raise ValueError("results_page_size_default must not exceed results_page_size_max")
        pages = (self.evaluation_search_page_size_default, self.evaluation_search_page_size_max)
        if not 1 <= pages[0] <= pages[1]:
            raise ValueError("evaluation search page sizes: need 1 <= default <= max")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the simulator saw. ``status`` 0 means the connection was dropped."""

    time: float
    method: str
    path: str
    query: str
    status: int
    token_fingerprint: str | None
    client_id: str | None
    correlation_id: str
    priority: str | None = None  # the x-priority header the client sent (the platform ignores it)
    retry_after: str | None = None  # the Retry-After header the simulator answered with


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """Who a presented bearer token belongs to, or why it is refused."""

    status: Literal["valid", "unknown", "expired", "revoked"]
    fingerprint: str
    client_id: str | None = None


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The sliding-window verdict for one request and the ``inin-ratelimit-*`` values."""

    allowed: bool
    limit: int
    count: int
    reset_seconds: int


@dataclass(slots=True)
class _Token:
    client_id: str
    expires_at: float
    revoked: bool = False


class Simulator:
    """The platform's state and the fault switches of one simulator server."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.tokens_issued = 0
        self.requests: list[RequestRecord] = []
        self.jobs: dict[str, Job] = {}
        self.faults = FaultPlan()
        self._secrets = dict(config.clients)
        self._tokens: dict[str, _Token] = {}
        self._windows: dict[str, deque[float]] = {}
        self._job_outcomes: deque[JobOutcome] = deque()
        self.workforce = Workforce(
            seed=config.seed,
            agents_per_unit=config.wfm_agents_per_unit,
            invalid_ratio=config.wfm_invalid_shift_ratio,
            weeks_ahead=config.wfm_published_weeks_ahead,
        )

    # -- fault switches: each covers the next n requests whose path contains path_contains --

    def fail_next(
        self,
        n: int,
        status: int = 503,
        *,
        retry_after: float | None = None,
        path_contains: str = "/api/v2/",
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` and the standard error body."""
        self.faults.arm(Fault("fail", n, path_contains, status=status, retry_after=retry_after))

    def throttle_next(
        self, n: int, *, retry_after: float | None = 2.0, path_contains: str = "/api/v2/"
    ) -> None:
        """Answer the next ``n`` matching requests 429 (``retry_after=None``: no header)."""
        self.faults.arm(Fault("throttle", n, path_contains, status=429, retry_after=retry_after))

    def throttle_every(
        self, k: int, *, retry_after: float | None = 2.0, path_contains: str = "/results"
    ) -> None:
        """Answer every ``k``-th matching request 429 from now on, like a shared org quota.

        Retries count as requests. Lasts until ``faults.clear()``.
        """
        self.faults.arm_every(k, retry_after, path_contains)

    def truncate_next(self, n: int, *, path_contains: str = "/results") -> None:
        """Answer 200 with the real body cut in half (Content-Length matches the cut body)."""
        self.faults.arm(Fault("truncate", n, path_contains))

    def malformed_next(self, n: int, *, path_contains: str = "/results") -> None:
        """Answer 200 with an HTML error page instead of JSON."""
        self.faults.arm(Fault("malformed", n, path_contains))

    def bad_page_next(
        self, n: int, kind: BadPage, *, path_contains: str = "/results", after: int = 0
    ) -> None:
        """Answer the next ``n`` matching requests, once ``after`` of them went through, with
        the 200 ``kind`` of bad answer (see ``faults``): ``after=2, n=1`` spoils the third page
        once; a large ``n`` spoils it and every later one, retries included."""
        if kind not in BAD_PAGES:
            raise ValueError(f"bad_page_next takes one of {', '.join(BAD_PAGES)}, not {kind!r}")
        self.faults.arm(Fault(kind, n, path_contains, skip=after))

    def slow_next(self, n: int, delay_seconds: float, *, path_contains: str = "/api/v2/") -> None:
        """Stall the next ``n`` matching requests ``delay_seconds`` before handling them."""
        self.faults.arm_delay(n, delay_seconds, path_contains)

    def reset_next(self, n: int, *, path_contains: str = "/api/v2/") -> None:
        """Close the connection of the next ``n`` matching requests without any response.

        Note that aiohttp's client retries an idempotent request once on such a disconnect.
        """
        self.faults.arm(Fault("reset", n, path_contains))

    def fail_next_job(self, state: str = "FAILED") -> None:
        """The next submitted job ends FAILED, or (``"EXPIRED"``) expires as it completes."""
        if state not in ("FAILED", "EXPIRED"):
            raise ValueError(f"fail_next_job takes FAILED or EXPIRED, not {state!r}")
        self._job_outcomes.append("FAILED" if state == "FAILED" else "EXPIRED")

    def processing_next(self, n: int) -> None:
        """The next ``n`` WFM agent-schedule searches answer ``Processing`` (§7.2 shape 3)."""
        self.workforce.processing_pending += n

    def republish(self, business_unit_id: str, week_date: date | str) -> list[str]:
        """Publish a changed version of a BU week (``yyyy-MM-dd``, its first BU-local day).

        Moves the mid-week shift of two agents; returns the changed shift ids. ``KeyError`` for
        an unknown unit, ``ValueError`` for a day that does not start one of its weeks.
        """
        return self.workforce.republish(business_unit_id, week_date)

    def token_endpoint_down(self, n: int, status: int = 503) -> None:
        """The next ``n`` token requests fail with ``status``."""
        self.fail_next(n, status, path_contains="/oauth/token")

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on (401 ``bad.credentials``)."""
        for token in self._tokens.values():
            token.revoked = True

    def set_secret(self, client_id: str, secret: str) -> None:
        """Rotate (or add) a client's secret: the old one gets ``invalid_client`` from now on.

        Tokens already issued survive unless ``config.rotation_revokes_tokens``.
        """
        self._secrets[client_id] = secret
        if self.config.rotation_revokes_tokens:
            for token in self._tokens.values():
                if token.client_id == client_id:
                    token.revoked = True

    # -- used by the routes --

    def authenticate_client(self, client_id: str, secret: str) -> bool:
        """Whether ``secret`` is the current secret of ``client_id`` (constant-time compare)."""
        expected = self._secrets.get(client_id)
        return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())

    def issue_token(self, client_id: str) -> str:
        """A new opaque bearer token for ``client_id``, valid for the configured lifetime."""
        token = secrets.token_urlsafe(48)
        expires_at = self.config.monotonic() + self.config.token_lifetime_seconds
        self._tokens[token] = _Token(client_id, expires_at)
        self.tokens_issued += 1
        return token

    def check_token(self, token: str) -> TokenGrant:
        """Whether a presented bearer token is valid, and whose it is."""
        fingerprint = token_fingerprint(token)
        found = self._tokens.get(token)
        if found is None:
            return TokenGrant("unknown", fingerprint)
        if found.revoked:
            return TokenGrant("revoked", fingerprint, found.client_id)
        if self.config.monotonic() >= found.expires_at:
            return TokenGrant("expired", fingerprint, found.client_id)
        return TokenGrant("valid", fingerprint, found.client_id)

    def revoke_token(self, token: str) -> None:
        """Revoke one token (``DELETE /api/v2/tokens/me``)."""
        if token in self._tokens:
            self._tokens[token].revoked = True

    def seconds_left(self, token: str) -> float:
        """Remaining lifetime of a known token in seconds (0 if unknown or expired)."""
        found = self._tokens.get(token)
        return 0.0 if found is None else max(0.0, found.expires_at - self.config.monotonic())

    def take_slot(self, fingerprint: str) -> RateDecision | None:
        """Count one request against the token's sliding 60 s window; None when unlimited.

        A refused request does not use a slot. ``reset_seconds`` is the whole number of seconds
        until the oldest counted request leaves the window (at least 1).
        """
        limit = self.config.rate_limit_per_minute
        org_limit = self.config.org_rate_limit_per_minute
        if limit == 0 and org_limit == 0:
            return None
        now = self.config.monotonic()
        windows = []
        if limit:
            windows.append((self._slide(fingerprint, now), limit))
        if org_limit:
            windows.append((self._slide(_ORG_WINDOW, now), org_limit))
        allowed = all(len(window) < cap for window, cap in windows)
        if allowed:
            for window, _ in windows:
                window.append(now)
        # Describe the tightest bucket: the one that refused, else the per-token one.
        window, cap = next(((w, c) for w, c in windows if len(w) >= c), windows[0])
        reset = max(1, math.ceil(window[0] + _WINDOW_SECONDS - now)) if window else 60
        return RateDecision(allowed, cap, len(window), reset)

    def _slide(self, key: str, now: float) -> deque[float]:
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - _WINDOW_SECONDS:
            window.popleft()
        return window

    def next_job_outcome(self) -> JobOutcome:
        """How the job being submitted will end (consumes one ``fail_next_job``)."""
        return self._job_outcomes.popleft() if self._job_outcomes else "FULFILLED"

    def running_jobs(self) -> list[Job]:
        """Jobs holding a concurrency slot (QUEUED or PENDING)."""
        now = self.config.monotonic()
        return [job for job in self.jobs.values() if job.state(now) in ("QUEUED", "PENDING")]

    def available_ms(self) -> int:
        """The analytics data availability date (now - lag), in epoch ms."""
        lag_ms = round(self.config.availability_lag_seconds * 1000)
        return epoch_ms(self.config.now()) - lag_ms

    def record(self, entry: RequestRecord) -> None:
        """Log one observed request."""
        self.requests.append(entry)

    # -- observations for assertions --

    def retry_after_violations(self, client_id: str | None = None) -> list[RequestRecord]:
        """API requests that arrived before the ``Retry-After`` of an earlier 429 had elapsed.

        Per OAuth client (``client_id``; every client when None): a 429 answered at ``t`` with
        ``Retry-After: s`` (3 s when absent, the SDK's default) forbids that client's requests
        until ``t + s``. A well-behaved client has none.
        """
        not_before: dict[str | None, float] = {}
        early: list[RequestRecord] = []
        for record in sorted(self.requests, key=lambda r: r.time):  # logged as they finish
            if not record.path.startswith("/api/"):
                continue
            if client_id is not None and record.client_id != client_id:
                continue
            if record.time < not_before.get(record.client_id, -math.inf):
                early.append(record)
            if record.status == 429:
                wait = float(record.retry_after) if record.retry_after else 3.0
                deadline = max(not_before.get(record.client_id, -math.inf), record.time + wait)
                not_before[record.client_id] = deadline
        return early

    def conversations(
        self, interval_start: datetime, interval_end: datetime
    ) -> list[dict[str, Any]]:
        """Ground truth: the records a job over this interval would return right now (asc)."""
        start_ms, end_ms = epoch_ms(interval_start), epoch_ms(interval_end)
        available = self.available_ms()
        cfg = self.config
        found = data.select(cfg.seed, cfg.conversations_per_hour, start_ms, end_ms, available)
        distinct = cfg.distinct_conversations
        return [data.record(arrival, available, distinct=distinct) for arrival in found]

    def evaluation_population(self) -> evaluations.Population:
        """The seed and rates that decide which quality evaluations exist."""
        cfg = self.config
        return evaluations.Population(
            seed=cfg.seed,
            evaluations_per_hour=cfg.evaluations_per_hour,
            conversations_per_hour=cfg.conversations_per_hour,
            rescore_ratio=cfg.evaluation_rescore_ratio,
            quirk_ratio=cfg.evaluation_quirk_ratio,
        )

    def evaluation_index_ms(self) -> int:
        """What the evaluation search index has seen: changes up to now - index lag (epoch ms)."""
        return epoch_ms(self.config.now()) - round(self.config.evaluation_index_lag_seconds * 1000)

    def evaluations(self, changed_from: datetime, changed_to: datetime) -> list[dict[str, Any]]:
        """Ground truth: what a search over this changedDate range returns now, in full.

        Same range semantics as the search (end inclusive unless configured otherwise), each
        evaluation as its latest indexed revision, sorted by createdDate ascending then id.
        """
        cfg = self.config
        date_range = evaluations.DateRange(
            "changedDate",
            epoch_ms(changed_from),
            epoch_ms(changed_to),
            inclusive_end=cfg.evaluation_search_end_inclusive,
        )
        found = evaluations.select(
            self.evaluation_population(), [date_range], self.evaluation_index_ms()
        )
        media = dict(cfg.evaluation_media_types)
        ordered = evaluations.order(found, "createdDate", descending=False)
        return [scorecards.build(plan, revision, media) for plan, revision in ordered]

    def shifts(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Ground truth: every shift an agent-schedule search over ``[start, end)`` returns now.

        All business units; each is ``{businessUnitId, businessUnitTimeZone, userId, shift}``,
        sorted by unit, user, shift start and shift id.
        """
        return self.workforce.shifts(start, end, self.config.now())
