"""Graceful shutdown: SIGTERM mid-window lets it land within the grace, or cancels it cleanly.

A real ``python -m producer run`` process gets SIGTERM while a results page is held by the
simulator: it takes no new window, the window in flight gets ``MESH_SHUTDOWN_GRACE_SECONDS``
to land, and the process exits 0 without a traceback or a destroyed task on its output. When
the grace is too short the window is cancelled whole: nothing of it is committed. The same
signal path also runs in-process, where the test's own task check sees every task end.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from producer import daemon
from producer.platforms.genesys.simulator import RunningSimulator, Simulator, SimulatorConfig
from producer.windows import align_down
from tests.durability.audit import (
    assert_exactly_once,
    audit_lake,
    read_file_lake,
)
from tests.durability.inprocess import (
    daemon_settings,
)
from tests.durability.process import (
    Producer,
    poll_until,
    producer_env,
)
from tests.fixtures.simulator import conversation_ids, telephony_config

pytestmark = pytest.mark.e2e

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_WATERMARK = align_down(_NOW - timedelta(minutes=15), 900)
_START = _WATERMARK - timedelta(minutes=60)  # four windows
_FIRST_END = _START + timedelta(minutes=15)
_UNCLEAN = ("Traceback", "Task was destroyed", "was never awaited", "Unclosed", "Warning:")


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen clock, so the ground truth and the windows are known in advance."""
    return telephony_config(lambda: _NOW, conversations_per_hour=240.0, rate_limit_per_minute=0)


async def _until_held(sim: Simulator) -> None:
    """Return once the armed slow request has arrived (it is being held right now)."""
    await poll_until(lambda: not sim.faults.pending(), interval_s=0.01)


def _assert_clean(output: str) -> None:
    for marker in _UNCLEAN:
        assert marker not in output, f"{marker!r} on the producer's output:\n{output[-4000:]}"


async def _terminated_mid_window(
    simulator: RunningSimulator, lake: Path, *, held_s: float, grace_s: str, timeout_s: float
) -> Producer:
    """A daemon process gets SIGTERM while its first results page is held ``held_s`` seconds,
    with ``MESH_SHUTDOWN_GRACE_SECONDS=grace_s``; it must exit 0 with a clean output."""
    simulator.sim.slow_next(1, held_s, path_contains="/results")
    env = producer_env(
        api_url=simulator.base_url,
        lake_url=lake.as_uri(),
        start=_START,
        MESH_SHUTDOWN_GRACE_SECONDS=grace_s,
    )
    async with await Producer.start(env, once=False) as producer:
        await _until_held(simulator.sim)
        producer.terminate()
        code = await producer.wait(timeout_s=timeout_s)
    assert code == 0, producer.output[-4000:]
    _assert_clean(producer.output)
    return producer


async def test_sigterm_mid_window_lands_it_within_the_grace_and_exits_0(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """The window in flight lands; no new window starts; exit 0; the lake is consistent."""
    producer = await _terminated_mid_window(
        simulator, tmp_path / "lake", held_s=1.0, grace_s="20", timeout_s=60
    )
    assert producer.named("shutdown_requested")
    assert producer.named("window_grace")
    assert [line["window"] for line in producer.named("window_landed")] == [
        f"{_START:%Y%m%dT%H%M%SZ}-{_FIRST_END:%Y%m%dT%H%M%SZ}"
    ], "exactly the window in flight landed, no new one was started"
    objects, _ = read_file_lake(tmp_path / "lake")
    audit = audit_lake(objects)
    assert audit.watermark == _FIRST_END
    assert_exactly_once(audit, conversation_ids(simulator.sim, _START, _FIRST_END))


async def test_sigterm_with_a_window_stuck_past_the_grace_cancels_it_whole(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """The grace runs out: the window is cancelled, nothing is committed, exit 0, no debris."""
    producer = await _terminated_mid_window(
        simulator, tmp_path / "lake", held_s=60.0, grace_s="0.5", timeout_s=30
    )
    assert producer.named("domain_stopped_mid_window"), producer.output[-4000:]
    assert not producer.named("window_landed")
    objects, hidden = read_file_lake(tmp_path / "lake")
    assert not objects, f"the cancelled window left objects: {sorted(objects)}"
    assert not hidden


async def test_sigterm_in_process_leaves_no_task_running(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """The daemon's own SIGTERM handler, in this process: every task it started has ended."""
    simulator.sim.slow_next(1, 60.0, path_contains="/results")
    settings = daemon_settings(
        api_url=simulator.base_url,
        lake_url=(tmp_path / "lake").as_uri(),
        start=_START,
        shutdown_grace_seconds=0.5,
    )
    before = asyncio.all_tasks()
    running = asyncio.create_task(
        daemon.run(settings, once=False, registry=CollectorRegistry()), name="daemon"
    )
    await _until_held(simulator.sim)  # the daemon's handlers are installed by now
    os.kill(os.getpid(), signal.SIGTERM)
    result = await asyncio.wait_for(running, timeout=30)
    await asyncio.sleep(0)
    left = [t.get_name() for t in asyncio.all_tasks() - before if not t.done()]
    assert not left, f"tasks left running after SIGTERM: {left}"
    assert result.ok, result.reports
    assert result.reports["telephony"].windows == 0
    objects, _ = read_file_lake(tmp_path / "lake")
    assert not objects
