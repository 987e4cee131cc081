"""The re-sweep schedule persists in the checkpoint: a cron-style ``run --once`` re-sweeps only
what is due, never a window it landed itself, and always ends.

Each ``run --once`` is a fresh ``daemon.run`` (nothing survives in memory between them) against
the simulator, whose clock is frozen so no new window appears between runs. The producer's own
clock is the real one plus an offset the test moves, to make earlier exports older than the
re-sweep interval without sleeping. Requests are counted by the simulator, per path.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer import daemon
from producer.clock import SystemClock
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.settings import Settings, WfmSettings
from producer.windows import align_down
from tests.fixtures.runs import telephony_domain, telephony_settings
from tests.fixtures.simulator import TELEPHONY_CLIENT, telephony_config

_NOW = align_down(datetime.now(UTC), 900)
_START = _NOW - timedelta(hours=2)
_WINDOWS = 8  # [_START, _NOW) in 15-minute windows
_SUBMIT = "/api/v2/analytics/conversations/details/jobs"


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """The simulator frozen at ``_NOW``, no availability lag: the same 8 windows every run."""
    return telephony_config(lambda: _NOW, availability_lag_seconds=0.0)


class _ShiftedClock(SystemClock):
    """The real clock, its wall time moved ``shift`` ahead (monotonic time is the real one)."""

    def __init__(self, shift: timedelta = timedelta(0)) -> None:
        self.shift = shift

    def now(self) -> datetime:
        return super().now() + self.shift


def _settings(simulator: RunningSimulator, lake: Path, interval_s: float) -> Settings:
    return telephony_settings(
        simulator.base_url,
        lake.as_uri(),
        start_at=_START,
        telephony=telephony_domain(resweep_hours=24, resweep_interval_seconds=interval_s),
    )


async def _run_once(
    simulator: RunningSimulator, lake: Path, *, interval_s: float, shift: timedelta
) -> tuple[daemon.RunResult, list[str]]:
    """One ``run --once`` (bounded: a run that never ends fails here); the paths it requested."""
    before = len(simulator.sim.requests)
    result = await asyncio.wait_for(
        daemon.run(
            _settings(simulator, lake, interval_s),
            once=True,
            registry=CollectorRegistry(),
            clock=_ShiftedClock(shift),
            install_signal_handlers=False,
        ),
        timeout=60,
    )
    assert result.ok, result.reports
    return result, [f"{r.method} {r.path}" for r in simulator.sim.requests[before:]]


def _data(lake: Path) -> dict[str, bytes]:
    """Every object of the lake but the checkpoint (the schedule in it moves on a re-sweep)."""
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in sorted(lake.rglob("*"))
        if p.is_file() and "_state" not in p.parts
    }


def _submitted(paths: list[str]) -> int:
    return paths.count(f"POST {_SUBMIT}")


async def test_fresh_run_exports_each_window_once_and_a_repeat_costs_two_requests(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Fresh: one job per window. Repeat with nothing new or due: a token and availability."""
    lake = tmp_path / "lake"
    result, paths = await _run_once(simulator, lake, interval_s=3600, shift=timedelta(0))
    assert result.reports["telephony"].windows == _WINDOWS
    assert _submitted(paths) == _WINDOWS, "a window landed in this run was exported again"

    result, paths = await _run_once(simulator, lake, interval_s=3600, shift=timedelta(0))
    assert result.reports["telephony"].windows == 0
    assert len(paths) <= 2, paths


async def test_windows_due_after_the_interval_are_reswept_once(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Past the interval every landed window is due: each is re-swept exactly once, then the
    schedule says so and the next run has nothing due."""
    lake = tmp_path / "lake"
    await _run_once(simulator, lake, interval_s=3600, shift=timedelta(0))
    data = _data(lake)
    later = timedelta(seconds=3601)
    result, paths = await _run_once(simulator, lake, interval_s=3600, shift=later)
    assert _submitted(paths) == _WINDOWS
    report = result.reports["telephony"]
    assert (report.windows, report.unchanged) == (0, _WINDOWS), "each re-swept, none changed"
    assert _data(lake) == data, "a re-sweep of unchanged windows rewrote data"

    checkpoint = orjson.loads((lake / "telephony-cdr-export/_state/checkpoint.json").read_bytes())
    swept = [w["last_exported_at"] for w in checkpoint["recent_windows"].values()]
    assert len(swept) == _WINDOWS
    assert all(datetime.fromisoformat(at) >= _NOW + later for at in swept), swept

    _, paths = await _run_once(simulator, lake, interval_s=3600, shift=later)
    assert len(paths) <= 2, paths


async def test_once_with_an_interval_shorter_than_a_pass_ends_after_one_pass(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """A 1 s interval: the fresh run exports each window once and ends; the next run re-sweeps
    each earlier window once and ends (``--once`` is every due window once, then exit)."""
    lake = tmp_path / "lake"
    _, paths = await _run_once(simulator, lake, interval_s=1, shift=timedelta(0))
    assert _submitted(paths) == _WINDOWS
    _, paths = await _run_once(simulator, lake, interval_s=1, shift=timedelta(seconds=2))
    assert _submitted(paths) == _WINDOWS


async def test_wfm_snapshots_are_taken_again_only_when_due(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """WFM's open weeks: a repeat run within ``snapshot_seconds`` of the last snapshot (kept in
    the checkpoint) costs a token alone; past it, the weeks are read again."""
    wfm = WfmSettings(
        client_id=TELEPHONY_CLIENT[0],
        client_secret=SecretStr(TELEPHONY_CLIENT[1]),
        horizon_weeks=1,
        rate_limit_per_minute=6000,
    )
    settings = telephony_settings(
        simulator.base_url, (tmp_path / "lake").as_uri(), domains=("wfm",), wfm=wfm
    )

    async def run(shift: timedelta) -> list[str]:
        before = len(simulator.sim.requests)
        result = await asyncio.wait_for(
            daemon.run(
                settings,
                once=True,
                registry=CollectorRegistry(),
                clock=_ShiftedClock(shift),
                install_signal_handlers=False,
            ),
            timeout=60,
        )
        assert result.ok, result.reports
        return [f"{r.method} {r.path}" for r in simulator.sim.requests[before:]]

    fresh = await run(timedelta(0))
    assert len(fresh) > 2
    assert len(await run(timedelta(0))) <= 2
    assert len(await run(timedelta(seconds=3601))) == len(fresh)
