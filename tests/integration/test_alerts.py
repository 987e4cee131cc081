"""Dead-letter alerts reach a real webhook: once per cooldown above the threshold, never below
it, retried when the webhook fails, and never in the way of the pipeline when it hangs.

The webhook is a real aiohttp server on 127.0.0.1 (port 0) whose answers are scripted; time for
the sliding window, the cooldown and the retry backoff is a manual clock, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from producer.alerts import AlertMonitor
from producer.checkpoint import Counts
from producer.telemetry.metrics import Metrics
from producer.windows import Window

_HOOK = "/services/T0000/B0000/not-a-real-secret"
_DLQ = "s3://lake/telephony-cdr-export/failed-records/"
_T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class ManualClock:
    """Monotonic time moves by ``advance`` and by ``sleep`` (which returns at once)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return _T0 + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Receiver:
    """The webhook: records every POST body; answers the scripted statuses, then 200.

    While ``hold`` is set to an unset event, requests wait on it (a webhook that hangs).
    """

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    hold: asyncio.Event | None = None
    waiting: int = 0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A Slack-like incoming webhook on a free local port."""
    state = Receiver()

    async def hook(request: web.Request) -> web.Response:
        state.bodies.append(orjson.loads(await request.read()))
        if state.hold is not None:
            state.waiting += 1
            try:
                await state.hold.wait()
            finally:
                state.waiting -= 1
        status = state.statuses.popleft() if state.statuses else 200
        return web.Response(status=status, text="ok" if status == 200 else "no")

    app = web.Application()
    app.router.add_post(_HOOK, hook)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}{_HOOK}"
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        await runner.cleanup()


def _monitor(
    url: str | None, clock: ManualClock, registry: CollectorRegistry, **options: Any
) -> AlertMonitor:
    settings: dict[str, Any] = {
        "threshold_ratio": 0.05,
        "min_records": 50,
        "window_seconds": 3600,
        "cooldown_seconds": 600,
        **options,
    }
    return AlertMonitor(webhook_url=url, metrics=Metrics(registry), clock=clock, **settings)


@pytest.fixture
async def running() -> AsyncIterator[Callable[[AlertMonitor], None]]:
    """Starts a monitor's sender as the task ``alerts``; every one is cancelled afterwards."""
    tasks: list[asyncio.Task[None]] = []

    def start(monitor: AlertMonitor) -> None:
        tasks.append(asyncio.create_task(monitor.run_sender(), name="alerts"))

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _window(index: int) -> Window:
    start = _T0 + timedelta(minutes=15 * index)
    return Window(start, start + timedelta(minutes=15))


def _observe(
    monitor: AlertMonitor,
    index: int,
    fetched: int,
    dead: int,
    *,
    domain: str = "telephony",
    rules: dict[str, int] | None = None,
) -> None:
    counts = Counts(fetched=fetched, landed=fetched - dead, dead_lettered=dead)
    monitor.observe(domain, _window(index), counts, rules or {"enum": dead}, _DLQ)


def _alerts(registry: CollectorRegistry, outcome: str, domain: str = "telephony") -> float:
    value = registry.get_sample_value("mesh_alerts_total", {"domain": domain, "outcome": outcome})
    return value or 0.0


async def test_one_alert_per_cooldown_while_above_the_threshold(
    receiver: Receiver, running: Callable[[AlertMonitor], None]
) -> None:
    """10 % rejected, window after window: one alert, then silence for the cooldown, then one
    more; the message names the domain, the counts, the ratio, the top rules and the DLQ."""
    clock, registry = ManualClock(), CollectorRegistry()
    monitor = _monitor(receiver.url, clock, registry)
    running(monitor)

    for index in range(10):  # t = 0, 60, ..., 540: inside the 600 s cooldown
        _observe(monitor, index, 100, 10, rules={"enum": 7, "pattern": 2, "required": 1})
        clock.advance(60)
    assert await monitor.flush(10)
    assert len(receiver.bodies) == 1
    clock.advance(60)  # t = 660: the cooldown is over and the ratio is still 10 %
    _observe(monitor, 10, 100, 10)
    assert await monitor.flush(10)

    assert len(receiver.bodies) == 2
    first = receiver.bodies[0]
    assert set(first) == {"text", "blocks"}
    text = first["text"]
    for part in ("telephony", "10 of 100", "10.0%", "threshold 5.0%", "enum (7)", _DLQ):
        assert part in text, (part, text)
    assert text.index("enum (7)") < text.index("pattern (2)") < text.index("required (1)")
    second = receiver.bodies[1]["text"]
    assert "110 of 1100" in second, "the sliding window holds all 11 windows of the hour"
    assert _alerts(registry, "triggered") == 2
    assert _alerts(registry, "sent") == 2


async def test_no_alert_below_the_threshold_or_the_volume(
    receiver: Receiver, running: Callable[[AlertMonitor], None]
) -> None:
    """4 % (below 5 %), 50 % of too few records, and records that left the sliding window raise
    nothing; the one domain that does cross it gets exactly one alert."""
    clock, registry = ManualClock(), CollectorRegistry()
    monitor = _monitor(receiver.url, clock, registry)
    running(monitor)

    for index in range(6):
        _observe(monitor, index, 100, 4, domain="quality")
        _observe(monitor, index, 8, 4, domain="wfm")
        clock.advance(60)
    _observe(monitor, 0, 30, 10)  # 33 % of 30: below the 50-record minimum
    clock.advance(3600)
    _observe(monitor, 1, 30, 10)  # the first 30 left the window: still 30 records
    assert _alerts(registry, "triggered") == 0
    _observe(monitor, 2, 30, 0)  # 60 records, 10 rejected: 16.7 %
    assert await monitor.flush(10)

    assert [body["text"].split("]")[1].split(":")[0].strip() for body in receiver.bodies] == [
        "telephony"
    ]
    for domain in ("quality", "wfm"):
        assert _alerts(registry, "triggered", domain) == 0


async def test_a_failing_webhook_is_retried_and_counted(
    receiver: Receiver, running: Callable[[AlertMonitor], None]
) -> None:
    """503 then 500 then 200: three identical POSTs, two retries counted, one sent."""
    clock, registry = ManualClock(), CollectorRegistry()
    monitor = _monitor(receiver.url, clock, registry)
    running(monitor)
    receiver.statuses.extend([503, 500])

    _observe(monitor, 0, 100, 50)
    assert await monitor.flush(10)

    assert len(receiver.bodies) == 3
    assert receiver.bodies[0] == receiver.bodies[1] == receiver.bodies[2]
    assert (_alerts(registry, "retried"), _alerts(registry, "sent")) == (2, 1)
    assert len(clock.slept) == 2
    assert _alerts(registry, "failed") == 0


async def test_a_webhook_that_is_down_is_given_up_after_bounded_retries(
    running: Callable[[AlertMonitor], None],
) -> None:
    """Connection refused on every attempt: max_attempts tries, then one ``failed``."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock, registry = ManualClock(), CollectorRegistry()
    monitor = _monitor(f"http://127.0.0.1:{port}{_HOOK}", clock, registry, max_attempts=3)
    running(monitor)

    _observe(monitor, 0, 100, 50)
    assert await monitor.flush(10)

    assert (_alerts(registry, "retried"), _alerts(registry, "failed")) == (2, 1)
    assert _alerts(registry, "sent") == 0
    assert len(clock.slept) == 2
    assert all(delay <= 30 for delay in clock.slept)


async def test_a_hanging_webhook_does_not_hold_up_observe(
    receiver: Receiver, running: Callable[[AlertMonitor], None]
) -> None:
    """While the webhook holds a request, observe keeps returning at once: alerts queue up to
    the bound, the oldest are dropped and counted, and the rest go out once it answers."""
    clock, registry = ManualClock(), CollectorRegistry()
    monitor = _monitor(receiver.url, clock, registry, queue_size=3, cooldown_seconds=60)
    running(monitor)
    receiver.hold = asyncio.Event()

    _observe(monitor, 0, 100, 50)
    for _ in range(100):
        if receiver.waiting:
            break
        await asyncio.sleep(0.01)
    assert receiver.waiting == 1, "the first alert is stuck in the webhook"
    for index in range(1, 11):  # ten more alerts, one per cooldown
        clock.advance(60)
        _observe(monitor, index, 100, 50)
    assert receiver.waiting == 1
    assert monitor.pending == 4  # one in flight, three queued
    assert _alerts(registry, "dropped") == 7
    assert _alerts(registry, "triggered") == 11

    receiver.hold.set()
    assert await monitor.flush(10)

    assert len(receiver.bodies) == 4
    windows = [body["text"].rsplit("last window ", 1)[1].rstrip(")") for body in receiver.bodies]
    assert windows == [_window(i).label for i in (0, 8, 9, 10)], "the newest ones are kept"
    assert _alerts(registry, "sent") == 4


async def test_without_a_webhook_alerts_are_only_counted(
    running: Callable[[AlertMonitor], None],
) -> None:
    """No URL: the threshold still counts as triggered, nothing is queued or sent."""
    clock, registry = ManualClock(), CollectorRegistry()
    monitor = _monitor(None, clock, registry)
    running(monitor)

    _observe(monitor, 0, 100, 50)

    assert _alerts(registry, "triggered") == 1
    assert monitor.pending == 0
    assert await monitor.flush(1)
    assert _alerts(registry, "sent") == 0
