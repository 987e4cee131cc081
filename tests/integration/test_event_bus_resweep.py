"""The event stream under a re-sweep that changes windows (late data), as in ``test_resweep``.

Conversations still active at the first export are dead-lettered and so not published; an hour
later they have ended, the re-sweep lands them, and they are published then. The changed windows'
unchanged records are not published again (the window's published marker holds their ids); the
last event of every record carries the id of the record as the lake now holds it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from producer import daemon
from producer.clock import SystemClock
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.fixtures.kinesis import StreamRecord, read_stream
from tests.fixtures.lake import lake_lines
from tests.fixtures.runs import telephony_domain, telephony_settings
from tests.fixtures.simulator import telephony_config

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


async def _run(simulator: RunningSimulator, lake: Path, stream: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    settings = telephony_settings(
        simulator.base_url,
        lake.as_uri(),
        start_at=_T0 - timedelta(hours=1),
        telephony=telephony_domain(resweep_hours=24, stream=(f"kinesis://{stream}",)),
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


def _event_id(record_id: str, line: bytes) -> str:
    content = hashlib.sha256(line).hexdigest()
    return hashlib.sha256(f"telephony\x1f{record_id}\x1f1.0\x1f{content}".encode()).hexdigest()


def _by_key(records: list[StreamRecord]) -> dict[str, list[StreamRecord]]:
    keyed: dict[str, list[StreamRecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.shard, r.sequence)):
        keyed[record.key].append(record)
    return keyed


@pytest.mark.usefixtures("kinesis_env")
async def test_a_changed_resweep_publishes_late_records_and_never_an_unchanged_one_again(
    simulator: RunningSimulator, tmp_path: Path, stream: str, moto_server: str
) -> None:
    lake = tmp_path / "lake"
    _NOW[0] = _T0
    await _run(simulator, lake, stream)
    first = _by_key(read_stream(moto_server, stream))
    active = {
        line["source"]["conversationId"]
        for line in lake_lines(_snapshot(lake), "/failed-records/")
        if any(error["rule"] == "conversation_active" for error in line["errors"])
    }
    assert active, "the scenario needs conversations still active at the first export"
    assert not active & set(first), "a dead-lettered record was published"

    _NOW[0] = _T0 + timedelta(hours=1)
    registry = await _run(simulator, lake, stream)
    assert registry.get_sample_value(
        "mesh_resweeps_total", {"domain": "telephony", "outcome": "changed"}
    )
    after = _snapshot(lake)
    lines = {
        line["data"]["interaction_id"]: orjson.dumps(line) for line in lake_lines(after, "/v1/")
    }
    dead = {line["source"]["conversationId"] for line in lake_lines(after, "/failed-records/")}
    keyed = _by_key(read_stream(moto_server, stream))
    assert set(keyed) == set(lines), "the stream holds exactly the landed records"
    assert not set(keyed) & dead
    moved = active & set(lines)
    assert moved, "late-ended conversations landed on the re-sweep"
    assert all(len({c.shard for c in copies}) == 1 for copies in keyed.values())
    for key, copies in keyed.items():
        assert copies[-1].data["event_id"] == _event_id(key, lines[key]), key
    for key, copies in keyed.items():
        ids = [c.data["event_id"] for c in copies]
        assert len(set(ids)) == len(ids), f"{key}: an unchanged record was published again"
    assert moved <= set(keyed) - set(first), "the late records were published on the re-sweep"
