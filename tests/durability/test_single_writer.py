"""Single writer: two producers on one domain and lake; the writer lease fences one of them.

Two real ``python -m producer run`` processes export the same domain into the same lake. Both
race to create the lease: exactly one wins; the other waits and either takes over once the first
has released it (and finds the work done) or sees it renewed and reports a checkpoint conflict
(``LeaseHeldError``): ``--once`` exits 1, the daemon backs off and tries again. With two views of
the source (two simulators), the writer that does not hold the lease puts and deletes nothing:
every committed window holds exactly the lines the checkpoint counts, from one writer's export.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from producer.lake.keys import checkpoint_key
from producer.lake.store import FileStore, open_store
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.platforms.genesys.simulator import serve as serve_simulator
from producer.settings import LakeLocation
from producer.windows import align_down, parse_instant
from tests.durability.audit import (
    PREFIX,
    LakeAudit,
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
from tests.fixtures.product import audit
from tests.fixtures.s3_faults import S3FaultProxy
from tests.fixtures.simulator import conversation_ids, telephony_config

pytestmark = pytest.mark.e2e

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_WATERMARK = align_down(_NOW - timedelta(minutes=15), 900)
_START = _WATERMARK - timedelta(minutes=90)  # six windows
_CHECKPOINT = checkpoint_key(PREFIX)
_LEASE = f"{PREFIX}/_state/lease.json"  # the writer lease, beside the checkpoint


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen clock, so the ground truth and the last window are known in advance."""
    return telephony_config(
        lambda: _NOW, conversations_per_hour=240.0, rate_limit_per_minute=0, max_concurrent_jobs=20
    )


_CONFLICTS = frozenset({"CheckpointConflictError", "LeaseHeldError", "LeaseLostError"})


def _conflicts(producer: Producer) -> int:
    return sum(
        1 for line in producer.named("domain_failed") if line.get("error_type") in _CONFLICTS
    )


async def test_two_run_once_racing_for_the_lease_on_s3_take_turns(
    simulator: RunningSimulator, s3_fault_proxy: S3FaultProxy, moto_server: str, bucket: str
) -> None:
    """Both create the lease at once: one wins; the other refuses or takes over after it."""
    gate = s3_fault_proxy.hold(method="PUT", path_contains=_LEASE)
    env = producer_env(
        api_url=simulator.base_url,
        lake_url=f"s3://{bucket}",
        start=_START,
        s3_endpoint=s3_fault_proxy.url,
        MESH_RESWEEP_HOURS="0",
        MESH_LEASE_SECONDS="8",
    )
    async with await Producer.start(env) as first, await Producer.start(env) as second:
        async with asyncio.timeout(60):  # a safety net: both must get this far
            await gate.wait_for(2)  # both read "no lease" and want to create it
        gate.release()
        codes = sorted([await first.wait(), await second.wait()])
    assert codes in ([0, 0], [0, 1]), first.output[-3000:] + second.output[-3000:]
    acquired = sum(len(p.named("lease_acquired")) for p in (first, second))
    assert acquired >= 1
    for producer in (first, second):
        if producer.process.returncode == 1:
            assert _conflicts(producer) == 1, producer.output[-3000:]
            assert "owned elsewhere" in producer.output
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
        api_url=simulator.base_url,
        lake_url=lake.as_uri(),
        start=_START,
        MESH_RESWEEP_HOURS="0",
        MESH_LEASE_SECONDS="8",
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
            assert line["error_type"] in _CONFLICTS, line
            assert line["restart_in_s"] is not None, "a fenced daemon backs off, then retries"
    objects, _ = read_file_lake(lake)
    audit = audit_lake(objects)
    assert_exactly_once(audit, conversation_ids(simulator.sim, _START, _WATERMARK))


def _watermark(lake: Path) -> datetime | None:
    path = lake / _CHECKPOINT
    if not path.exists():
        return None
    return datetime.fromisoformat(orjson.loads(path.read_bytes())["watermark"])


# -- two writers with different views of the source --------------------------------------------

_SMALLER_VIEW_PER_HOUR = 200.0  # the second writer's source: other, fewer conversations


async def _race_two_views(
    sim_a: RunningSimulator, gated_b: S3FaultProxy, *, lake_url: str, s3_endpoint: str | None
) -> tuple[int, int]:
    """Writer B (the smaller view, behind ``gated_b``) starts and reads the lake's state, then
    waits at its first results page; writer A runs to its end; then B's page is let through.

    Without a fence, B writes its parts over the windows A committed, and only then loses the
    checkpoint's compare-and-swap. Returns the exit codes of A and B.
    """
    gate = gated_b.hold(method="GET", path_contains="/results")
    common = {"MESH_RESWEEP_HOURS": "24", "MESH_LEASE_SECONDS": "8"}
    env_a = producer_env(
        api_url=sim_a.base_url, lake_url=lake_url, start=_START, s3_endpoint=s3_endpoint, **common
    )
    env_b = producer_env(
        api_url=gated_b.url, lake_url=lake_url, start=_START, s3_endpoint=s3_endpoint, **common
    )
    async with await Producer.start(env_b) as b:
        async with asyncio.timeout(60):  # a safety net
            await gate.wait_for(1)  # B read the lake's state and wants its first page
        async with await Producer.start(env_a) as a:
            code_a = await a.wait()
        gate.release()
        code_b = await b.wait()
    codes = (code_a, code_b)
    assert 0 in codes, a.output[-3000:] + b.output[-3000:]
    for producer, code in zip((a, b), codes, strict=True):
        assert code == 0 or _conflicts(producer) == 1, producer.output[-3000:]
    return codes


def _assert_one_view_per_window(
    audit: LakeAudit, views: tuple[RunningSimulator, RunningSimulator]
) -> None:
    """Every committed window holds exactly the checkpoint's counts and one writer's records."""
    checkpoint = audit.checkpoint
    assert checkpoint is not None
    recent = checkpoint["recent_windows"]
    assert len(recent) == 6, sorted(recent)
    lost = 0
    problems = []
    for label, entry in sorted(recent.items()):
        counts = entry["counts"]
        lines = audit.lines_by_window.get(label, Counter())
        held = lines["data"] + lines["dlq"]
        if held != counts["fetched"] or lines["data"] != counts["landed"]:
            lost += counts["fetched"] - held
            problems.append(f"{label}: checkpoint {counts}, lake {dict(lines)}")
            continue
        ids = audit.ids_by_window[label]
        assert len(ids) == len(set(ids)), f"{label}: a record twice"
        start, end = (parse_instant(part) for part in label.split("-"))
        truths = [conversation_ids(view.sim, start, end) for view in views]
        assert set(ids) in truths, f"{label}: records of neither writer's view alone"
    assert not problems, f"{lost} record(s) counted but not in the lake: " + "; ".join(problems)
    totals = checkpoint["totals"]
    assert totals["landed"] == len(audit.landed), (totals, len(audit.landed))
    assert totals["dead_lettered"] == len(audit.dead), (totals, len(audit.dead))


@pytest.fixture
async def smaller_view() -> AsyncIterator[RunningSimulator]:
    """A second source for the same domain and time range, with other and fewer records."""
    config = telephony_config(
        lambda: _NOW,
        conversations_per_hour=_SMALLER_VIEW_PER_HOUR,
        seed=11,
        rate_limit_per_minute=0,
        max_concurrent_jobs=20,
    )
    async with serve_simulator(config) as running:
        yield running


@pytest.fixture
async def gated_smaller_view(smaller_view: RunningSimulator) -> AsyncIterator[S3FaultProxy]:
    """The forwarding fault proxy (it only forwards bytes) in front of the smaller view."""
    proxy = S3FaultProxy(smaller_view.base_url)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def test_two_writers_with_different_views_leave_the_file_lake_whole(
    simulator: RunningSimulator,
    smaller_view: RunningSimulator,
    gated_smaller_view: S3FaultProxy,
    tmp_path: Path,
) -> None:
    """The writer that lost the domain puts and deletes nothing once the other committed."""
    lake = tmp_path / "lake"
    await _race_two_views(simulator, gated_smaller_view, lake_url=lake.as_uri(), s3_endpoint=None)
    objects, _ = read_file_lake(lake)
    _assert_one_view_per_window(audit_lake(objects), (simulator, smaller_view))
    report = await audit(FileStore(lake))
    assert report.consistent, report.discrepancies


async def test_two_writers_with_different_views_leave_the_s3_lake_whole(
    simulator: RunningSimulator,
    smaller_view: RunningSimulator,
    gated_smaller_view: S3FaultProxy,
    s3_env: str,
    bucket: str,
) -> None:
    """The same race on S3 (moto): the lake holds one writer's view per window, as counted."""
    await _race_two_views(
        simulator, gated_smaller_view, lake_url=f"s3://{bucket}", s3_endpoint=s3_env
    )
    _assert_one_view_per_window(audit_lake(read_s3_lake(s3_env, bucket)), (simulator, smaller_view))
    async with open_store(LakeLocation.parse(f"s3://{bucket}")) as store:
        report = await audit(store)
    assert report.consistent, report.discrepancies
