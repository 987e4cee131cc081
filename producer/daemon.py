"""The composition root and lifecycle: builds every component, runs one task tree, stops cleanly.

``run()`` opens the long-lived resources (HTTP sessions, object stores, the metrics server) in an
``AsyncExitStack``, then one root ``TaskGroup`` holds one supervised task per domain. Each domain
has its own task group with its token refresher (``{domain}:token``) and its window loop
(``{domain}:worker``), its own credentials on its own source platform (a Genesys Cloud OAuth
client, or a NICE CXone access key whose Data Extraction calls share the process's per-tenant
gate), limiter, validator, prefix and checkpoint: a domain
that fails is logged, counted, shown on ``/readyz`` and restarted with backoff while the others
go on. A configuration error (a broken contract, an unknown schema version) is permanent: that
domain is not restarted, ``/readyz`` names the error, the run's result says it failed (exit 2),
and when every enabled domain has failed so the daemon stops at once. SIGTERM/SIGINT only set
``stopping``; windows in flight get the shutdown grace.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
import structlog
from prometheus_client import CollectorRegistry

from producer.alert_email import email_channel
from producer.alerts import AlertMonitor
from producer.api.client import ApiClient, open_session
from producer.api.retry import RetryPolicy
from producer.auth import TokenManager
from producer.budget import PriorityBudget
from producer.bus.port import EventPort
from producer.catalog.migration import watch_subscribers
from producer.checkpoint import CheckpointStore
from producer.clock import Clock, SystemClock
from producer.contracts.registry import Contract, load_domain_contracts, select_contracts
from producer.contracts.validate import Validator
from producer.domains import DomainSpec, Extractor, domain_spec
from producer.errors import ConfigError
from producer.lake.lease import DomainLease, Fence, new_owner
from producer.lake.store import ObjectStore, load_store_code, open_store
from producer.lake.writer import BatchWriter
from producer.logs import bind_domain
from producer.platforms.genesys.permissions import required_permission
from producer.ratelimit import DomainLimiter
from producer.reports import DomainReport
from producer.settings import DomainSettings, Settings
from producer.telemetry.health import Health
from producer.telemetry.metrics import DomainMetrics, Metrics
from producer.telemetry.server import serve_http
from producer.worker import DomainWorker, OlderMajor, WindowAbandonedError

if TYPE_CHECKING:
    from producer.platforms.nice.extraction import TenantGates

__all__ = ["BuiltDomain", "RunResult", "open_domain", "run"]

_log = structlog.get_logger("producer.daemon")
_RESTART_CAP_S = 300.0


@dataclass(frozen=True, slots=True)
class RunResult:
    """Per-domain reports; ``ok`` when every domain finished without error."""

    reports: dict[str, DomainReport]

    @property
    def ok(self) -> bool:
        return all(report.error is None for report in self.reports.values())

    @property
    def exit_code(self) -> int:
        """0 all ok; 2 a domain's configuration (contract, schema version) is wrong; 1 else."""
        if self.ok:
            return 0
        if any(report.config_error for report in self.reports.values()):
            return 2
        return 1


async def run(
    settings: Settings,
    *,
    once: bool,
    stopping: asyncio.Event | None = None,
    registry: CollectorRegistry | None = None,
    clock: Clock | None = None,
    install_signal_handlers: bool = True,
) -> RunResult:
    """Run every enabled domain; with ``once``, until each has landed all it can, else forever.

    Whatever a domain hits, a broken contract or an unknown schema version included, stays that
    domain's failure: it is reported on ``/readyz`` and, unless ``once``, the domain restarts
    with backoff while the others go on. A configuration error is not retried: the domain stays
    failed (its ``DomainReport.error``, ``config_error``) while the others go on, and once every
    enabled domain has failed that way the run stops.
    """
    stopping = stopping or asyncio.Event()
    metrics = Metrics(registry or CollectorRegistry())
    clock = clock or SystemClock()
    alerts = AlertMonitor(
        webhook_url=(
            settings.alert_webhook_url.get_secret_value() if settings.alert_webhook_url else None
        ),
        threshold_ratio=settings.alert_threshold_ratio,
        min_records=settings.alert_min_records,
        window_seconds=settings.alert_window_seconds,
        cooldown_seconds=settings.alert_cooldown_seconds,
        metrics=metrics,
        clock=clock,
        email=email_channel(settings),
    )
    runtime = _Runtime(
        settings=settings,
        metrics=metrics,
        health=Health(list(settings.domains)),
        clock=clock,
        alerts=alerts,
        stopping=stopping,
        once=once,
        shared_budget=(
            PriorityBudget(settings.org_rate_limit_per_minute)
            if settings.org_rate_limit_per_minute
            else None
        ),
        reports={name: DomainReport(name) for name in settings.domains},
    )
    loop = asyncio.get_running_loop()
    if install_signal_handlers:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _on_signal, stopping, sig)
    try:
        async with AsyncExitStack() as stack:
            port = await stack.enter_async_context(
                serve_http(
                    metrics.registry,
                    runtime.health,
                    host=settings.http_host,
                    port=settings.http_port,
                    before_scrape=lambda: _export_readiness(runtime.health, metrics),
                    admin=(
                        (settings.admin_token.get_secret_value(), runtime.limiters)
                        if settings.admin_token is not None
                        else None
                    ),
                )
            )
            load_store_code(settings.lake)  # a cloud SDK costs a second or more to import
            _log.info("daemon_started", domains=list(settings.domains), http_port=port, once=once)
            async with asyncio.TaskGroup() as root:
                sender = root.create_task(alerts.run_sender(), name="alerts")
                async with asyncio.TaskGroup() as domains:
                    for name in settings.domains:
                        domains.create_task(runtime.supervise(name), name=f"{name}:supervisor")
                # Alerts already raised still go out, for a bounded time, then the sender stops.
                await alerts.flush(5.0)
                sender.cancel()
            runtime.health.alive = False
    finally:
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
    _log.info(
        "daemon_stopped",
        domains={
            name: "ok" if report.error is None else f"failed: {report.error}"
            for name, report in runtime.reports.items()
        },
    )
    return RunResult(runtime.reports)


@dataclass(frozen=True, slots=True)
class BuiltDomain:
    """One domain as ``run`` builds it: its worker, OAuth client, lake store and writer lease."""

    worker: DomainWorker
    tokens: TokenManager
    lease: DomainLease
    store: ObjectStore
    metrics: DomainMetrics
    contract: Contract
    older: tuple[Contract, ...]


@asynccontextmanager
async def open_domain(
    settings: Settings, name: str, *, clock: Clock | None = None
) -> AsyncIterator[BuiltDomain]:
    """Domain ``name`` built exactly as ``run`` builds it (for ``backfill``), without alerts or
    the HTTP server; its session and store are closed and its lease released on exit."""
    runtime = _Runtime(
        settings=settings,
        metrics=Metrics(CollectorRegistry()),
        health=Health([name]),
        clock=clock or SystemClock(),
        stopping=asyncio.Event(),
        once=True,
        reports={name: DomainReport(name)},
    )
    async with AsyncExitStack() as stack:
        yield await runtime.build_domain(name, stack)


def _export_readiness(health: Health, metrics: Metrics) -> None:
    not_ready = health.not_ready()
    for name in health.domains:
        metrics.for_domain(name).ready(name not in not_ready)


def _on_signal(stopping: asyncio.Event, sig: signal.Signals) -> None:
    _log.info("shutdown_requested", signal=sig.name)
    stopping.set()


@dataclass(slots=True)
class _Runtime:
    """What every domain's supervisor shares: settings, telemetry, clock and the stop signal."""

    settings: Settings
    metrics: Metrics
    health: Health
    clock: Clock
    stopping: asyncio.Event
    once: bool
    reports: dict[str, DomainReport]
    alerts: AlertMonitor | None = None
    shared_budget: PriorityBudget | None = None
    limiters: dict[str, DomainLimiter] = field(default_factory=dict)
    nice_gates: TenantGates | None = None  # CXone Data Extraction, one gate per tenant

    async def supervise(self, name: str) -> None:
        """Run one domain; on failure record it, back off and restart (never crosses domains)."""
        bind_domain(name)
        status = self.health.status(name)
        domain_metrics = self.metrics.for_domain(name)
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                self.reports[name] = await self._run_domain(name)
            except Exception as exc:  # the supervisor contains any failure of its domain
                error = _leaf(exc)
                if isinstance(error, WindowAbandonedError):
                    _log.info("domain_stopped_mid_window", error=str(error))
                    return
                status.worker_running = False
                status.worker_error = f"{type(error).__name__}: {error}"
                permanent = isinstance(error, ConfigError)  # retrying cannot fix it
                domain_metrics.restarted()
                _log.error(
                    "domain_failed",
                    error=str(error),
                    error_type=type(error).__name__,
                    restart_in_s=None if self.once or permanent else backoff,
                )
                if self.once or permanent:
                    self.reports[name].error = str(error)
                    self.reports[name].config_error = permanent
                    if permanent:
                        status.failed = str(error)
                        self._stop_if_all_failed()
                    return
            else:
                return
            with suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self.stopping.wait()
            backoff = min(_RESTART_CAP_S, backoff * 2)

    def _stop_if_all_failed(self) -> None:
        """Stop the run when every enabled domain has failed on its configuration."""
        if all(report.config_error for report in self.reports.values()):
            _log.error("all_domains_failed", reason="configuration")
            self.stopping.set()

    def _writer(
        self,
        store: ObjectStore,
        name: str,
        contract: Contract,
        *,
        fence: Fence,
        older_major: bool = False,
    ) -> BatchWriter:
        """The writer of ``name``'s product in ``contract``'s major (data under ``v{MAJOR}/``)."""
        domain = self.settings.domain(name)
        return BatchWriter(
            store,
            prefix=domain.prefix,
            domain=name,
            major=contract.major,
            compression=self.settings.compression,
            part_max_records=domain.part_max_records,
            metrics=self.metrics.for_domain(name),
            object_metadata={"x-schema-version": contract.version, "domain": name},
            older_major=older_major,
            fence=fence,
        )

    @asynccontextmanager
    async def _bus(self, stream: str) -> AsyncIterator[EventPort]:
        """The Kinesis publisher of one stream (imported only when a domain has a stream)."""
        from producer.bus.kinesis import open_kinesis_port

        async with open_kinesis_port(
            stream, retry_budget_s=self.settings.request_retry_seconds
        ) as port:
            yield port

    async def _run_domain(self, name: str) -> DomainReport:
        """Build one domain's components and run its token task and window loop together."""
        status = self.health.status(name)
        async with AsyncExitStack() as stack:
            built = await self.build_domain(name, stack)
            worker, tokens, lease = built.worker, built.tokens, built.lease
            store, domain_metrics, older_contracts = built.store, built.metrics, built.older
            async with asyncio.TaskGroup() as group:
                refresher = group.create_task(tokens.run_refresher(), name=f"{name}:token")
                status.worker_running = True
                status.worker_error = None
                work = group.create_task(
                    worker.run_windows(
                        once=self.once,
                        stopping=self.stopping,
                        grace_s=self.settings.shutdown_grace_seconds,
                    ),
                    name=f"{name}:worker",
                )
                work.add_done_callback(lambda _: refresher.cancel())
                keeper = group.create_task(lease.keep_renewed(), name=f"{name}:lease")
                work.add_done_callback(lambda _: keeper.cancel())
                if older_contracts:
                    watcher = group.create_task(
                        watch_subscribers(
                            store, name, older_contracts, domain_metrics, once=self.once
                        ),
                        name=f"{name}:subscribers",
                    )
                    if not self.once:  # once: it returns after its one reading
                        work.add_done_callback(lambda _: watcher.cancel())
            status.worker_running = False
            return work.result()

    def _genesys_source(
        self,
        name: str,
        domain: DomainSettings,
        spec: DomainSpec,
        *,
        session: aiohttp.ClientSession,
        limiter: DomainLimiter,
        retry: RetryPolicy,
    ) -> tuple[TokenManager, Extractor]:
        """``name``'s OAuth client and extractor on Genesys Cloud (tokens fetched lazily)."""
        if domain.client_id is None:  # Settings requires it on genesys
            raise ConfigError(f"MESH_{name.upper()}__CLIENT_ID: required with PLATFORM=genesys")
        tokens = TokenManager(
            domain=name,
            token_url=f"{self.settings.login_base_url}/oauth/token",
            client_id=domain.client_id,
            client_secret=domain.client_secret,
            client_secret_file=domain.client_secret_file,
            session=session,
            metrics=self.metrics.for_domain(name),
            clock=self.clock,
            margin_seconds=domain.token_refresh_margin_seconds,
            request_timeout_s=self.settings.request_timeout_seconds,
        )
        api = ApiClient(
            domain=name,
            base_url=self.settings.api_base_url,
            session=session,
            tokens=tokens,
            limiter=limiter,
            metrics=self.metrics.for_domain(name),
            clock=self.clock,
            retry=retry,
            request_timeout_s=self.settings.request_timeout_seconds,
            max_retry_after_s=self.settings.max_retry_after_seconds,
            permission_of=required_permission,
        )
        return tokens, spec.make_extractor(api, domain, self.clock)

    async def _nice_source(
        self,
        name: str,
        domain: DomainSettings,
        *,
        session: aiohttp.ClientSession,
        limiter: DomainLimiter,
        retry: RetryPolicy,
    ) -> tuple[TokenManager, Extractor]:
        """``name``'s CXone clients (granted and discovered now) and extractor; its Data
        Extraction calls share the process's tenant gates with every other CXone domain."""
        from producer.platforms.nice.wiring import (
            GATE_METRICS_LABEL,
            open_nice_source,
            tenant_gates,
        )

        if self.nice_gates is None:
            self.nice_gates = tenant_gates(
                self.settings, clock=self.clock, metrics=self.metrics.for_domain(GATE_METRICS_LABEL)
            )
        return await open_nice_source(
            name,
            domain,
            session=session,
            limiter=limiter,
            gates=self.nice_gates,
            metrics=self.metrics.for_domain(name),
            clock=self.clock,
            retry=retry,
            request_timeout_s=self.settings.request_timeout_seconds,
        )

    async def build_domain(self, name: str, stack: AsyncExitStack) -> BuiltDomain:
        """One domain's worker and what it runs with (session, OAuth client, store, lease),
        their resources entered on ``stack``; the lease is released when ``stack`` closes."""
        domain = self.settings.domain(name)
        spec = domain_spec(name, domain.platform)
        # Loaded per domain and per (re)start: one domain's broken contract stays its own
        # failure, and a fixed file is picked up by the next restart.
        contract, *older_contracts = select_contracts(
            load_domain_contracts(self.settings.contracts_dir, name), name, domain.schema_version
        )
        domain_metrics = self.metrics.for_domain(name)
        status = self.health.status(name)
        session = await stack.enter_async_context(open_session())
        limiter = DomainLimiter(
            per_minute=domain.rate_limit_per_minute,
            priority=domain.priority,
            clock=self.clock,
            metrics=domain_metrics,
            shared=self.shared_budget,
        )
        self.limiters[name] = limiter
        retry = RetryPolicy(budget_s=self.settings.request_retry_seconds)
        if domain.platform == "nice":
            tokens, extractor = await self._nice_source(
                name, domain, session=session, limiter=limiter, retry=retry
            )
        else:
            tokens, extractor = self._genesys_source(
                name, domain, spec, session=session, limiter=limiter, retry=retry
            )
        status.token_ready = lambda: tokens.ready
        status.token_error = lambda: tokens.last_error
        store = await stack.enter_async_context(
            open_store(
                self.settings.lake,
                bucket=domain.bucket,
                s3_read_timeout_s=self.settings.request_timeout_seconds,
            )
        )
        # One writer per domain: the worker takes the lease before it reads the checkpoint,
        # and every put, delete and commit runs through it.
        lease = DomainLease(
            store,
            prefix=domain.prefix,
            domain=name,
            owner=new_owner("producer"),
            ttl_s=self.settings.lease_seconds,
            clock=self.clock,
        )
        stack.push_async_callback(lease.release)  # a graceful stop hands over at once
        start_at = self.settings.start_at or (self.clock.now() - timedelta(hours=24))
        buses = {  # the event output port: one stream per major written, if configured
            c.version: await stack.enter_async_context(self._bus(stream))
            for c in (contract, *older_contracts)
            if (stream := domain.stream_for(c.version)) is not None
        }
        worker = DomainWorker(
            spec=spec,
            extractor=extractor,
            contract=contract,
            validator=Validator(contract),
            writer=self._writer(store, name, contract, fence=lease),
            checkpoints=CheckpointStore(
                store, prefix=domain.prefix, domain=name, metrics=domain_metrics, fence=lease
            ),
            start_at=start_at,
            planner=spec.make_planner(self.settings.window_seconds, domain),
            clock=self.clock,
            metrics=domain_metrics,
            status=status,
            resweep_hours=_first_set(
                domain.resweep_hours, self.settings.resweep_hours, spec.default_resweep_hours
            ),
            resweep_interval_s=domain.resweep_interval_seconds,
            alerts=self.alerts,
            dlq_path=f"{store.description}/{domain.prefix}/failed-records/",
            lease=lease,
            bus=buses.get(contract.version),
            platform=domain.platform,
            older=tuple(
                OlderMajor(
                    older,
                    Validator(older),
                    self._writer(store, name, older, fence=lease, older_major=True),
                    buses.get(older.version),
                )
                for older in older_contracts
            ),
        )
        return BuiltDomain(
            worker, tokens, lease, store, domain_metrics, contract, tuple(older_contracts)
        )


def _first_set(*values: float | None) -> float:
    """The first value that is not None (the last one always is set)."""
    return next(value for value in values if value is not None)


def _leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
