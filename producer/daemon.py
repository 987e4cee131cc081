"""The composition root and lifecycle: builds every component, runs one task tree, stops cleanly.

``run()`` opens the long-lived resources (HTTP sessions, object stores, the metrics server) in an
``AsyncExitStack``, then one root ``TaskGroup`` holds one supervised task per domain. Each domain
has its own task group with its token refresher (``{domain}:token``) and its window loop
(``{domain}:worker``), its own credentials on its own source platform (opened by the platform
the registry ``producer.platforms.source_platform`` names; what a platform's domains share, such
as a per-tenant gate, lives in the run's ``RunShared``), limiter, validator, prefix and
checkpoint: a domain that fails is logged, counted, shown on ``/readyz`` and restarted with
backoff while the others go on. ``_Runtime._run_domain`` is each domain's composition root: it
builds the domain (``build_domain``), then runs it (``_run_built``). A configuration error (a
broken contract, an unknown schema version) is permanent: that domain is not restarted,
``/readyz`` names the error, the run's result says it failed (exit 2), and when every enabled
domain has failed so the daemon stops at once. SIGTERM/SIGINT only set ``stopping``; windows in
flight get the shutdown grace.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from prometheus_client import CollectorRegistry

from producer.alert_email import email_channel
from producer.alerts import AlertMonitor
from producer.api.client import open_session
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
from producer.platforms import source_platform
from producer.platforms.source import RunShared, Source, SourceContext
from producer.ratelimit import DomainLimiter
from producer.reports import DomainReport
from producer.settings import DomainSettings, Settings
from producer.telemetry.health import Health
from producer.telemetry.metrics import DomainMetrics, Metrics
from producer.telemetry.server import serve_http
from producer.windows import IncrementalPlanner
from producer.worker import DomainWorker, OlderMajor, WindowAbandonedError

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
    runtime = _new_runtime(
        settings,
        once=once,
        stopping=stopping or asyncio.Event(),
        metrics=Metrics(registry or CollectorRegistry()),
        clock=clock or SystemClock(),
    )
    loop = asyncio.get_running_loop()
    if install_signal_handlers:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _on_signal, runtime.stopping, sig)
    try:
        await _serve(runtime)
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


def _new_runtime(
    settings: Settings, *, once: bool, stopping: asyncio.Event, metrics: Metrics, clock: Clock
) -> _Runtime:
    """What every domain of a run shares: its alerts, health, reports and budget."""
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
    return _Runtime(
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


async def _serve(runtime: _Runtime) -> None:
    """The HTTP port, then one supervised task per domain until all return; then the alerts
    already raised go out (for a bounded time)."""
    settings, metrics, alerts = runtime.settings, runtime.metrics, runtime.alerts
    assert alerts is not None  # _new_runtime makes them
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
        _log.info(
            "daemon_started", domains=list(settings.domains), http_port=port, once=runtime.once
        )
        async with asyncio.TaskGroup() as root:
            sender = root.create_task(alerts.run_sender(), name="alerts")
            async with asyncio.TaskGroup() as domains:
                for name in settings.domains:
                    domains.create_task(runtime.supervise(name), name=f"{name}:supervisor")
            await alerts.flush(5.0)
            sender.cancel()
        runtime.health.alive = False


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
    shared: RunShared = field(default_factory=RunShared)  # what a platform's domains share

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
        """The composition root of one domain: build it, then run it."""
        async with AsyncExitStack() as stack:
            built = await self.build_domain(name, stack)
            return await self._run_built(name, built)

    async def _run_built(self, name: str, built: BuiltDomain) -> DomainReport:
        """Run a built domain's window loop with its token refresher, lease keeper and (during
        a major migration) subscriber watcher; they stop when the loop ends."""
        status = self.health.status(name)
        async with asyncio.TaskGroup() as group:
            refresher = group.create_task(built.tokens.run_refresher(), name=f"{name}:token")
            status.worker_running = True
            status.worker_error = None
            work = group.create_task(
                built.worker.run_windows(
                    once=self.once,
                    stopping=self.stopping,
                    grace_s=self.settings.shutdown_grace_seconds,
                ),
                name=f"{name}:worker",
            )
            work.add_done_callback(lambda _: refresher.cancel())
            keeper = group.create_task(built.lease.keep_renewed(), name=f"{name}:lease")
            work.add_done_callback(lambda _: keeper.cancel())
            if built.older:
                watcher = group.create_task(
                    watch_subscribers(
                        built.store, name, built.older, built.metrics, once=self.once
                    ),
                    name=f"{name}:subscribers",
                )
                if not self.once:  # once: it returns after its one reading
                    work.add_done_callback(lambda _: watcher.cancel())
        status.worker_running = False
        return work.result()

    async def build_domain(self, name: str, stack: AsyncExitStack) -> BuiltDomain:
        """One domain's worker and what it runs with (session, OAuth client, store, lease),
        their resources entered on ``stack``; the lease is released when ``stack`` closes."""
        domain = self.settings.domain(name)
        spec = domain_spec(name, domain.platform)
        # Loaded per domain and per (re)start: one domain's broken contract stays its own
        # failure, and a fixed file is picked up by the next restart.
        contract, *older = select_contracts(
            load_domain_contracts(self.settings.contracts_dir, name), name, domain.schema_version
        )
        tokens, extractor = await self._source(name, domain, stack)
        store = await stack.enter_async_context(
            open_store(
                self.settings.lake,
                bucket=domain.bucket,
                read_timeout_s=self.settings.request_timeout_seconds,
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
        buses = {  # the event output port: one stream per major written, if configured
            c.version: await stack.enter_async_context(self._bus(stream))
            for c in (contract, *older)
            if (stream := domain.stream_for(c.version)) is not None
        }
        worker = self._worker(
            name,
            spec,
            extractor=extractor,
            store=store,
            lease=lease,
            contracts=(contract, *older),
            buses=buses,
        )
        metrics = self.metrics.for_domain(name)
        return BuiltDomain(worker, tokens, lease, store, metrics, contract, tuple(older))

    async def _source(self, name: str, domain: DomainSettings, stack: AsyncExitStack) -> Source:
        """``name``'s token manager and extractor, opened by its platform with its own HTTP
        session (entered on ``stack``), limiter and retry policy."""
        session = await stack.enter_async_context(open_session())
        limiter = DomainLimiter(
            per_minute=domain.rate_limit_per_minute,
            priority=domain.priority,
            clock=self.clock,
            metrics=self.metrics.for_domain(name),
            shared=self.shared_budget,
        )
        self.limiters[name] = limiter
        context = SourceContext(
            settings=self.settings,
            session=session,
            limiter=limiter,
            retry=RetryPolicy(budget_s=self.settings.request_retry_seconds),
            metrics=self.metrics,
            clock=self.clock,
            shared=self.shared,
        )
        tokens, extractor = await source_platform(domain.platform).open_source(
            name, domain, context
        )
        status = self.health.status(name)
        status.token_ready = lambda: tokens.ready
        status.token_error = lambda: tokens.last_error
        return tokens, extractor

    def _worker(
        self,
        name: str,
        spec: DomainSpec,
        *,
        extractor: Extractor,
        store: ObjectStore,
        lease: DomainLease,
        contracts: tuple[Contract, ...],
        buses: dict[str, EventPort],
    ) -> DomainWorker:
        """The window loop of ``name``: its newest contract first, then any older major."""
        domain, metrics = self.settings.domain(name), self.metrics.for_domain(name)
        contract, *older = contracts
        planner = spec.make_planner(self.settings.window_seconds_of(name), domain)
        if isinstance(planner, IncrementalPlanner):
            metrics.window_length(planner.window_seconds)
        return DomainWorker(
            spec=spec,
            extractor=extractor,
            contract=contract,
            validator=Validator(contract),
            writer=self._writer(store, name, contract, fence=lease),
            checkpoints=CheckpointStore(
                store, prefix=domain.prefix, domain=name, metrics=metrics, fence=lease
            ),
            start_at=self.settings.start_at or (self.clock.now() - timedelta(hours=24)),
            planner=planner,
            clock=self.clock,
            metrics=metrics,
            status=self.health.status(name),
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
                    major,
                    Validator(major),
                    self._writer(store, name, major, fence=lease, older_major=True),
                    buses.get(major.version),
                )
                for major in older
            ),
        )


def _first_set(*values: float | None) -> float:
    """The first value that is not None (the last one always is set)."""
    return next(value for value in values if value is not None)


def _leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
