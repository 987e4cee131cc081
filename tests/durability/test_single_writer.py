"""Single writer: two producers on one domain and lake; the checkpoint CAS fences one of them.

Two real ``python -m producer run`` processes export the same domain into the same lake. Both
read "no checkpoint" and race to commit the first window: the conditional write lets exactly one
win, the other reports ``CheckpointConflictError`` and stops (``--once``: exit 1) or backs off
and reloads (the daemon). Whatever the interleaving, the lake ends exactly once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from producer.lake.keys import checkpoint_key
from producer.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.durability.audit import (
    PREFIX,
    assert_exactly_once,
    audit_lake,
    read_file_lake,
    read_s3_lake,
)
from tests.durability.process import (
    Producer,
    poll_until,
    producer_env,
)
from tests.fixtures.s3_faults import S3FaultProxy
from tests.fixtures.simulator import conversation_ids, telephony_config

pytestmark = pytest.mark.e2e

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_WATERMARK = align_down(_NOW - timedelta(minutes=15), 900)
_START = _WATERMARK - timedelta(minutes=90)  # six windows
_CHECKPOINT = checkpoint_key(PREFIX)


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen clock, so the ground truth and the last window are known in advance."""
    return telephony_config(
        lambda: _NOW, conversations_per_hour=240.0, rate_limit_per_minute=0, max_concurrent_jobs=20
    )


def _conflicts(producer: Producer) -> int:
    return sum(
        1
        for line in producer.named("domain_failed")
        if line.get("error_type") == "CheckpointConflictError"
    )


async def test_two_run_once_on_one_s3_lake_one_is_fenced(
    simulator: RunningSimulator, s3_fault_proxy: S3FaultProxy, moto_server: str, bucket: str
) -> None:
    """Both commit the first window at once: one wins, the other exits 1 naming the conflict."""
    gate = s3_fault_proxy.hold(method="PUT", path_contains=_CHECKPOINT)
    env = producer_env(
        api_url=simulator.base_url,
        lake_url=f"s3://{bucket}",
        start=_START,
        s3_endpoint=s3_fault_proxy.url,
        MESH_RESWEEP_HOURS="0",
    )
    async with await Producer.start(env) as first, await Producer.start(env) as second:
        async with asyncio.timeout(60):  # a safety net: both must get this far
            await gate.wait_for(2)  # both finished the first window and want to commit it
        gate.release()
        codes = sorted([await first.wait(), await second.wait()])
    assert codes == [0, 1], first.output[-3000:] + second.output[-3000:]
    loser = first if first.process.returncode == 1 else second
    assert _conflicts(loser) == 1, loser.output[-3000:]
    assert "owned elsewhere" in loser.output
    audit = audit_lake(read_s3_lake(moto_server, bucket))
    assert audit.watermark == _WATERMARK
    assert_exactly_once(audit, conversation_ids(simulator.sim, _START, _WATERMARK))


async def test_two_daemons_on_one_file_lake_back_off_and_stay_exactly_once(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Two daemons race: each lost CAS is reported and backed off; the lake ends exactly once.

    The first availability call of each is held 2 s, so both read "no checkpoint" first.
    """
    simulator.sim.slow_next(2, 2.0, path_contains="/availability")
    lake = tmp_path / "lake"
    env = producer_env(
        api_url=simulator.base_url, lake_url=lake.as_uri(), start=_START, MESH_RESWEEP_HOURS="0"
    )
    async with (
        await Producer.start(env, once=False) as first,
        await Producer.start(env, once=False) as second,
    ):
        await poll_until(lambda: _watermark(lake) == _WATERMARK, interval_s=0.05)
        for producer in (first, second):
            producer.terminate()
        codes = [await first.wait(), await second.wait()]
    assert codes == [0, 0], first.output[-3000:] + second.output[-3000:]
    conflicts = [_conflicts(first), _conflicts(second)]
    assert sum(conflicts) >= 1, "no writer was ever fenced"
    for producer in (first, second):
        for line in producer.named("domain_failed"):
            assert line["error_type"] == "CheckpointConflictError", line
            assert line["restart_in_s"] is not None, "a fenced daemon backs off, then retries"
    objects, _ = read_file_lake(lake)
    audit = audit_lake(objects)
    assert_exactly_once(audit, conversation_ids(simulator.sim, _START, _WATERMARK))


def _watermark(lake: Path) -> datetime | None:
    path = lake / _CHECKPOINT
    if not path.exists():
        return None
    return datetime.fromisoformat(orjson.loads(path.read_bytes())["watermark"])
