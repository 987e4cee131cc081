"""Step 2 (extract) composition for a domain whose source is NICE CXone.

``open_nice_source`` turns a domain's settings into what the daemon runs: its CXone clients
(access-key grant through the shared ``TokenManager``, tenant discovery, the domain's own
limiter, which already draws on the shared priority budget) and the extractor of
``registry.nice_spec(domain)``, from what the daemon lends every platform (``SourceContext``).
``tenant_gates`` makes the process's one ``TenantGates``, kept in the run's ``RunShared``: every
CXone domain of a tenant sends its Data Extraction calls through the same gate, so the
one-call-per-interval rule holds across domains. ``nice_options`` maps settings to
``NiceOptions``. Settings have been validated (``settings.platforms.PLATFORM_RULES``);
nothing is read from the environment here.
"""

from __future__ import annotations

from producer.clock import Clock
from producer.errors import ConfigError
from producer.platforms.nice.auth import open_nice_clients
from producer.platforms.nice.gates import TenantGates
from producer.platforms.nice.registry import NiceOptions, nice_spec
from producer.platforms.source import Source, SourceContext
from producer.settings import DomainSettings, QualitySettings, Settings, TelephonySettings
from producer.telemetry.metrics import DomainMetrics

__all__ = ["GATE_METRICS_LABEL", "nice_options", "open_nice_source", "tenant_gates"]

GATE_METRICS_LABEL = "cxone-extraction"
"""The ``domain`` label of the shared Data Extraction gates' limiter metrics."""
_GATES = "nice:tenant-gates"
_MAX_MARGIN_S = 1.0


def tenant_gates(settings: Settings, *, clock: Clock, metrics: DomainMetrics) -> TenantGates:
    """The process's Data Extraction gates: the longest interval any CXone domain asks for,
    plus a margin (1 s, or the interval itself when shorter) for unequal transit times."""
    intervals = [
        domain.nice_extraction_interval_seconds
        for name in settings.domains
        if isinstance(domain := settings.domain(name), QualitySettings)
        and domain.platform == "nice"
    ]
    interval = max(intervals, default=NiceOptions().extraction_interval_seconds)
    return TenantGates(
        clock=clock,
        metrics=metrics,
        min_interval_s=interval,
        margin_s=min(_MAX_MARGIN_S, interval),
    )


def nice_options(domain: DomainSettings) -> NiceOptions:
    """A CXone domain's extractor knobs from its settings.

    Quality's ``SETTLE_SECONDS`` defaults to Genesys' 120 s; on CXone, unless set, it is
    ``NiceOptions``' 1800 s (new Data Extraction rows can take 30 min to appear).
    """
    defaults = NiceOptions()
    lag = (
        domain.nice_completion_lag_seconds
        if isinstance(domain, TelephonySettings)
        else defaults.completion_lag_seconds
    )
    version, interval, settle = (
        defaults.qm_entity_version,
        defaults.extraction_interval_seconds,
        defaults.settle_seconds,
    )
    if isinstance(domain, QualitySettings):
        version = domain.nice_qm_entity_version
        interval = domain.nice_extraction_interval_seconds
        if "settle_seconds" in domain.model_fields_set:
            settle = domain.settle_seconds
    return NiceOptions(
        page_size=domain.page_size,
        completion_lag_seconds=lag,
        max_pages_per_window=domain.max_pages_per_window,
        qm_entity_version=version,
        settle_seconds=settle,
        extraction_interval_seconds=interval,
        job_max_wait_seconds=domain.job_max_wait_seconds,
    )


async def open_nice_source(name: str, domain: DomainSettings, context: SourceContext) -> Source:
    """Grant, discover the tenant's API host and build ``name``'s extractor on CXone.

    Its Data Extraction calls go through the run's ``tenant_gates``, made by the first CXone
    domain that opens and kept in ``context.shared`` for every other. Raises ``ConfigError``
    for a domain CXone cannot feed; ``AuthError`` or ``TransientSourceError`` (the domain's
    failure, retried by its supervisor) when the token or the discovery cannot be had.
    """

    def make_gates() -> TenantGates:
        return tenant_gates(
            context.settings,
            clock=context.clock,
            metrics=context.metrics.for_domain(GATE_METRICS_LABEL),
        )

    gates = context.shared.get(_GATES, make_gates)
    spec = nice_spec(name)
    if domain.nice_auth_url is None or domain.nice_access_key_id is None:
        raise ConfigError(f"MESH_{name.upper()}__NICE_AUTH_URL: required with PLATFORM=nice")
    clients = await open_nice_clients(
        context.http(name),
        auth_url=domain.nice_auth_url,
        discovery_url=domain.nice_discovery_url,
        api_version=domain.nice_api_version,
        access_key_id=domain.nice_access_key_id,
        secret=domain.nice_access_key_secret,
        secret_file=domain.nice_access_key_secret_file,
        limiter=context.limiter,
        gates=gates,
        margin_seconds=domain.token_refresh_margin_seconds,
    )
    return clients.tokens, spec.make_extractor(clients, nice_options(domain), context.clock)
