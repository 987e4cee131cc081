"""Late data: a re-sweep lands what changed, duplicates nothing, rewrites nothing else.

The simulator's clock is moved by hand: conversations still active at the first export are
dead-lettered (``conversation_active``); an hour later they have ended, and the re-sweep lands
them in their window's data and takes them out of its DLQ. The producer's clock moves by as much
(the real clock, shifted), so its windows are an hour old and due for their re-sweep.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from producer import daemon
from producer.clock import SystemClock
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.fixtures.lake import assert_each_once, lake_lines
from tests.fixtures.runs import telephony_domain, telephony_settings
from tests.fixtures.simulator import conversation_ids, telephony_config

_T0 = align_down(datetime.now(UTC), 900) - timedelta(hours=3)
_NOW = [_T0]


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A simulator whose clock the test moves; long calls, so some are active at first."""
    return telephony_config(
        lambda: _NOW[0], conversations_per_hour=300.0, availability_lag_seconds=0.0
    )


class _ShiftedClock(SystemClock):
    """The real clock, its wall time moved as far as the simulator's from ``_T0``."""

    def now(self) -> datetime:
        return super().now() + (_NOW[0] - _T0)


def _snapshot(lake: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(lake)): p.read_bytes() for p in sorted(lake.rglob("*")) if p.is_file()
    }


async def _run(simulator: RunningSimulator, lake: Path) -> CollectorRegistry:
    """One ``run --once`` from an hour before ``_T0``, re-sweeping the last 24 hours (each
    window once it was exported an hour ago, the default interval)."""
    registry = CollectorRegistry()
    settings = telephony_settings(
        simulator.base_url,
        lake.as_uri(),
        start_at=_T0 - timedelta(hours=1),
        telephony=telephony_domain(resweep_hours=24),
    )
    result = await daemon.run(
        settings,
        once=True,
        registry=registry,
        clock=_ShiftedClock(),
        install_signal_handlers=False,
    )
    assert result.ok, result.reports
    return registry


async def test_resweep_lands_late_changes_exactly_once(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Active-then-ended conversations move from DLQ to data; every id stays exactly once."""
    lake = tmp_path / "lake"
    _NOW[0] = _T0
    await _run(simulator, lake)
    first = _snapshot(lake)
    active_before = [
        line
        for line in lake_lines(first, "/failed-records/")
        if any(error["rule"] == "conversation_active" for error in line["errors"])
    ]
    assert active_before, "the scenario needs conversations still active at the first export"

    _NOW[0] = _T0 + timedelta(hours=1)
    registry = await _run(simulator, lake)
    after = _snapshot(lake)
    checkpoint = orjson.loads(after["telephony-cdr-export/_state/checkpoint.json"])
    watermark = datetime.fromisoformat(checkpoint["watermark"])
    start = _T0 - timedelta(hours=1)
    truth = conversation_ids(simulator.sim, start, watermark)
    landed = [line["data"]["interaction_id"] for line in lake_lines(after, "/v1/")]
    dead = [line["source"]["conversationId"] for line in lake_lines(after, "/failed-records/")]
    assert_each_once(landed, dead, truth)
    moved = {line["source"]["conversationId"] for line in active_before} & set(landed)
    assert moved, "late-ended conversations must have landed on the re-sweep"
    totals = checkpoint["totals"]
    assert totals == {"fetched": len(truth), "landed": len(landed), "dead_lettered": len(dead)}
    changed = registry.get_sample_value(
        "mesh_resweeps_total", {"domain": "telephony", "outcome": "changed"}
    )
    assert changed is not None
    assert changed >= 1

    await _run(simulator, lake)  # the same hour: nothing is due again, nothing is rewritten
    assert _snapshot(lake) == after, "a run with nothing due rewrote something"
