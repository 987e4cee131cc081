"""Crash and hostile source together: ``run --once`` is SIGKILLed at random moments while the
source misbehaves, runs once more to its end still misbehaving, then the source behaves and a
last run must leave the lake exact.

One trial per case (``HOSTILE_TRIALS``, 4 by default), seeded (``HOSTILE_SEED``, 16 by
default): a misbehaviour of ``tests/hostile/source.py`` (a different one each trial, drawn
whether transient and which window); ``_KILLS`` runs each killed at a moment uniform over a
run's working time (learnt from runs that end before their kill), every other one within 0.2 s after
a window landed; one run to its end with the source still misbehaving (exit 0 only with an
exact lake, else nothing of a failed window committed); then one with the source behaving:
every conversation exactly once across data and DLQ, the checkpoint at the source's
watermark, ``lake audit`` consistent. The kill harness is ``tests/durability/process.py``'s.
Out-of-order repeats and ``{}`` pages (which once doubled or shortened the lake whether or not
a kill came first) have trials of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer.lake.store import open_store
from producer.settings import LakeLocation
from producer.windows import align_down
from tests.durability.process import Producer, ProducerExitedError
from tests.fixtures.lake import assert_each_once
from tests.hostile.outcomes import LakeContent, read_product
from tests.hostile.runner import hostile_env
from tests.hostile.source import ALL_WINDOWS, HostileSource, Kind, Misbehaviour, serve_hostile

_SEED = int(os.environ.get("HOSTILE_SEED", "16"))
_TRIALS = int(os.environ.get("HOSTILE_TRIALS", "4"))  # each costs 4 processes, ~2 s CPU each
_KILLS = 2
_AFTER_COMMIT_S = 0.2  # a kill aimed after a commit comes within this long of it
_FIRST = align_down(datetime.now(UTC), 900) - timedelta(hours=2)
_SURVIVABLE: tuple[Kind, ...] = (
    "html_200",
    "invalid_json",
    "truncated_cut",
    "cursor_loop",
    "job_unknown_state",
    "duplicate_id_adjacent",
    "huge_record",
    "token_echo",
)

pytestmark = [pytest.mark.e2e]


@dataclass
class _Trial:
    seed: int
    misbehaviour: Misbehaviour
    backend: str = "file"
    kill_window_s: float = 0.8
    kills: int = 0
    kills_after_a_commit: int = 0
    nothing_lands: bool = False
    early_exits: int = 0

    @property
    def context(self) -> str:
        m = self.misbehaviour
        return f"seed {self.seed}, {m.kind} times={m.times} window={m.window}, {self.backend}"


def _drawn(index: int) -> _Trial:
    rng = random.Random(_SEED * 1000 + index)
    kind = _SURVIVABLE[(_SEED + index) % len(_SURVIVABLE)]  # a different one per trial
    times = rng.choice([None, 1, 2])
    window = rng.choice([0, 1, ALL_WINDOWS])
    return _Trial(
        _SEED * 1000 + index, Misbehaviour(kind, times, window), "s3" if index == 0 else "file"
    )


def _labels(source: HostileSource) -> list[tuple[str, set[str]]]:
    found = []
    for index in range(source.windows):
        start, end = source.window_bounds(index)
        found.append(
            (f"{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}", source.truth(range(index, index + 1)))
        )
    return found


def _assert_committed_exact(
    content: LakeContent, source: HostileSource, *, complete: bool, context: str
) -> None:
    """The windows the checkpoint covers hold their conversations exactly once (all windows
    when ``complete``); the DLQ holds only the extras the source added."""
    watermark = content.watermark
    if complete:
        assert watermark == source.watermark, f"checkpoint at {watermark} [{context}]"
    covered = [
        (label, ids)
        for index, (label, ids) in enumerate(_labels(source))
        if watermark is not None and source.window_bounds(index)[1] <= watermark
    ]
    labels = {label for label, _ in covered}
    landed, dead = content.ids(labels)
    truth = set().union(*(ids for _, ids in covered))
    assert_each_once(landed, [d for d in dead if d not in source.extras], truth, context=context)


async def _check(
    location: LakeLocation, source: HostileSource, *, complete: bool, context: str
) -> None:
    async with open_store(location) as store:
        content, report = await read_product(store)
    assert report.consistent, f"lake audit [{context}]: {[str(d) for d in report.discrepancies]}"
    _assert_committed_exact(content, source, complete=complete, context=context)


async def _trial(
    trial: _Trial, lake_url: str, s3_endpoint: str | None, *, kills: int = _KILLS
) -> None:
    rng = random.Random(trial.seed)
    source = HostileSource(first_window=_FIRST, windows=2, misbehaviour=trial.misbehaviour)
    location = LakeLocation.parse(lake_url)
    async with serve_hostile(source) as served:
        env = hostile_env(served.base_url, lake_url, _FIRST, s3_endpoint)
        runs = 0
        while trial.kills < kills and runs < 4 * kills:
            runs += 1
            # Every other kill aims just after a commit (if the run gets that far).
            after_commit = trial.kills % 2 == 1 and not trial.nothing_lands
            async with await Producer.start(env) as producer:
                await producer.wait_for_event("daemon_started")
                started = asyncio.get_running_loop().time()
                horizon = trial.kill_window_s
                if after_commit:
                    with contextlib.suppress(ProducerExitedError):
                        await producer.wait_for_event("window_landed")
                    horizon = _AFTER_COMMIT_S
                code = await producer.exited_within(rng.uniform(0.0, horizon))
                if code is None:
                    producer.kill()
                    await producer.wait()
                    trial.kills += 1
                    trial.kills_after_a_commit += bool(producer.named("window_landed"))
                    continue
                trial.early_exits += 1
                if after_commit:
                    trial.nothing_lands = not producer.named("window_landed")
                else:
                    trial.kill_window_s = asyncio.get_running_loop().time() - started
            await _check(
                location, source, complete=code == 0, context=f"early exit {code}, {trial.context}"
            )
        async with await Producer.start(env) as producer:
            code = await producer.wait()
        await _check(
            location,
            source,
            complete=code == 0,
            context=f"misbehaving run exit {code}, {trial.context}",
        )
        source.behave()
        async with await Producer.start(env) as producer:
            code = await producer.wait()
            output = producer.output
        assert code == 0, f"{trial.context}:\n{output[-3000:]}"
        await _check(
            location, source, complete=True, context=f"after the source behaved, {trial.context}"
        )
    assert source.fired, f"the misbehaviour never applied [{trial.context}]"
    print(
        f"\ncrash+hostile: {trial.context}: kills={trial.kills} "
        f"({trial.kills_after_a_commit} after a window landed), early exits={trial.early_exits}"
    )


def _lake(trial: _Trial, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[str, str | None]:
    if trial.backend == "s3":
        endpoint: str = request.getfixturevalue("s3_env")
        return f"s3://{request.getfixturevalue('bucket')}", endpoint
    return (tmp_path / "lake").as_uri(), None


@pytest.mark.parametrize("index", range(_TRIALS))
async def test_kill_while_the_source_misbehaves_then_rerun_is_exact(
    index: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Kills at random points under a drawn misbehaviour; after a clean rerun, exact."""
    trial = _drawn(index)
    lake_url, endpoint = _lake(trial, tmp_path, request)
    await _trial(trial, lake_url, endpoint)


@pytest.mark.parametrize(
    "kind",
    [
        "repeat_earlier_page",
        "empty_object_200",
    ],
)
async def test_kill_while_the_source_repeats_or_sends_empty_pages(
    kind: Kind, tmp_path: Path
) -> None:
    """Kills while the source repeats pages out of order, or answers ``{}`` on a page."""
    trial = _Trial(_SEED, Misbehaviour(kind, None, 1))
    await _trial(trial, (tmp_path / "lake").as_uri(), None, kills=1)
