"""Crash anywhere: ``run --once`` is SIGKILLed at random moments and restarted; nothing is lost.

Each trial exports simulated history into a fresh lake, kills the process ``_KILLS_PER_TRIAL``
times at a random moment after it started working, then runs it until it exits 0 and audits the
lake: every conversation once across data and DLQ, the checkpoint's totals and per-window counts
equal to the lines, part numbers without gaps or leftovers. Trials cycle through four kinds:
``file://`` or moto S3, re-sweep on or off, and a frozen or a moving source (the simulator's clock
moves 5 minutes per run: new windows appear and conversations still active at the last export
end, so re-sweeps rewrite windows while being killed). Azure Blob (Azurite) and GCS
(fake-gcs-server) get one frozen-source trial each with re-sweeps on (8 kill points each;
``DURABILITY_CLOUD_TRIALS`` for more): a clean run into a scratch root first measures how long
its export takes on that emulator (to its last window landed), and each kill then falls within
60 % of the export still to do, so at least a quarter of the kills land mid-export whatever the
emulator's speed. Trials are seeded; the seeds are printed (``-s``) and in
every failure message. The CI size is 32 kill points on file/S3; a bigger run by hand::

    DURABILITY_KILLS=300 DURABILITY_SEED=7 pytest tests/durability/test_crash.py -s -n 0
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import resource
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig, serve
from producer.windows import align_down
from tests.durability.audit import (
    assert_exactly_once,
    audit_lake,
    read_file_lake,
    read_s3_lake,
)
from tests.durability.process import (
    Producer,
    producer_env,
)
from tests.fixtures.backends import read_backend
from tests.fixtures.simulator import conversation_ids, telephony_config

_KILLS = int(os.environ.get("DURABILITY_KILLS", "30"))
_SEED = int(os.environ.get("DURABILITY_SEED") or random.SystemRandom().randrange(1 << 31))
_KILLS_PER_TRIAL = 8
_CLOUD_TRIALS = int(os.environ.get("DURABILITY_CLOUD_TRIALS", "1"))  # per Azure/GCS store
_PARALLEL = 2  # trials at once; each is one process at a time
_KILL_WINDOW_S = 1.0  # first guess of a run's working time; each trial learns its own
# A measured trial kills within this share of the export still to do (so one kill lands at most
# about that share of it, and the export takes three runs or more), and never within less than
# _MIN_WINDOW_SHARE of the whole (so runs still make progress, and those after it are killed).
_KILL_SHARE_OF_REST = 0.6
_MIN_WINDOW_SHARE = 0.25
_LAG = timedelta(minutes=15)  # the simulator's availability lag
_WINDOW = timedelta(minutes=15)
_STEP = timedelta(minutes=5)  # how far a moving source's clock moves per run
_HISTORY = timedelta(minutes=255)  # 16 windows before the first availability
# A moving source starts with 4 windows, so the export keeps up with it: conversations still
# active at their first export end while their window is inside the re-sweep horizon.
_MOVING_HISTORY = timedelta(minutes=75)

# A frozen source is at _NOW; a moving one starts three hours earlier, staying behind real time.
_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_KINDS = (  # backend, re-sweep, moving source
    ("file", False, False),
    ("file", True, True),
    ("s3", True, False),
    ("s3", True, True),
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(max(120, 8 * _KILLS))]


def _config(now: Callable[[], datetime]) -> SimulatorConfig:
    return telephony_config(
        now,
        conversations_per_hour=240.0,
        rate_limit_per_minute=0,
        availability_lag_seconds=_LAG.total_seconds(),
        job_expiry_seconds=300.0,
        max_concurrent_jobs=50,
    )


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """The frozen source: the same truth for every run, no quota, fast jobs, many job slots."""
    return _config(lambda: _NOW)


@dataclass
class _Trial:
    index: int
    seed: int
    backend: str
    resweep: bool
    moving: bool
    source_now: datetime
    start: datetime = field(init=False)
    kill_window_s: float = _KILL_WINDOW_S
    export_s: float | None = None  # a clean run's time to its last window (cloud trials)
    kills: int = 0
    runs: int = 0
    windows_landed: int = 0
    resweep_commits: int = 0
    finished_early: int = 0
    phases: Counter[str] = field(default_factory=Counter)
    records: int = 0
    hidden_files: int = 0

    def __post_init__(self) -> None:
        history = _MOVING_HISTORY if self.moving else _HISTORY
        self.start = align_down(self.source_now - history, 900)

    @property
    def watermark(self) -> datetime:
        """Where the export ends with the source as it is now."""
        return align_down(self.source_now - _LAG, 900)

    @property
    def windows(self) -> int:
        """How many windows the export has to land with the source as it is now."""
        return int((self.watermark - self.start) / _WINDOW)

    def kill_window(self) -> float:
        """The span a kill moment is drawn from: the learnt one, or for a measured trial the
        measured export time scaled by the share of windows still to land."""
        if self.export_s is None:
            return self.kill_window_s
        left = max(0, self.windows - self.windows_landed) / max(1, self.windows)
        return self.export_s * max(_KILL_SHARE_OF_REST * left, _MIN_WINDOW_SHARE)

    @property
    def root(self) -> str:
        return f"trial-{self.index:03d}"

    @property
    def context(self) -> str:
        kind = f"{self.backend}, re-sweep {'on' if self.resweep else 'off'}"
        return (
            f"trial {self.index}, seed {self.seed}, {kind}, {'moving' if self.moving else 'frozen'}"
        )


def _account(trial: _Trial, producer: Producer, *, killed: bool) -> None:
    """Count what the run committed; for a killed run, note where the export was."""
    landed = producer.named("window_landed")
    resweeps = sum(1 for line in landed if line.get("resweep"))
    trial.resweep_commits += resweeps
    trial.windows_landed += len(landed) - resweeps
    if not killed:
        return
    if resweeps:
        phase = "during a re-sweep"
    elif trial.windows_landed == 0:
        phase = "before the first window landed"
    elif trial.windows_landed < (trial.watermark - trial.start) / _WINDOW:
        phase = "mid-export"
    else:
        phase = "after the export (re-sweep or idle)"
    trial.phases[phase] += 1


async def _run_trial(trial: _Trial, env: dict[str, str], gate: asyncio.Semaphore) -> None:
    """Kill ``_KILLS_PER_TRIAL`` runs at random moments, then run until one exits 0.

    The kill moment is uniform over the time a run works (after ``daemon_started``): a run that
    ends before its kill teaches the trial how long the remaining work takes. A moving source
    advances before every run.
    """
    rng = random.Random(trial.seed)
    async with gate:
        while trial.kills < _KILLS_PER_TRIAL and trial.runs < 4 * _KILLS_PER_TRIAL:
            trial.runs += 1
            if trial.moving:
                trial.source_now += _STEP
            async with await Producer.start(env) as producer:
                await producer.wait_for_event("daemon_started")
                started = asyncio.get_running_loop().time()
                code = await producer.exited_within(rng.uniform(0.0, trial.kill_window()))
                if code is None:
                    producer.kill()
                    await producer.wait()
                    trial.kills += 1
                    _account(trial, producer, killed=True)
                    continue
                assert code == 0, f"{trial.context}:\n{producer.output[-4000:]}"
                _account(trial, producer, killed=False)
                trial.finished_early += 1
                trial.kill_window_s = asyncio.get_running_loop().time() - started
                if trial.export_s is not None:  # the rest took this long: rescale from it
                    trial.export_s = min(trial.export_s, trial.kill_window_s / _MIN_WINDOW_SHARE)
        trial.runs += 1
        if trial.moving:
            trial.source_now += _STEP
        async with await Producer.start(env) as producer:
            code = await producer.wait()
            assert code == 0, f"{trial.context}:\n{producer.output[-4000:]}"
            assert not producer.named("domain_failed"), producer.output[-4000:]
            _account(trial, producer, killed=False)


@asynccontextmanager
async def _source(trial: _Trial, frozen: RunningSimulator) -> AsyncIterator[RunningSimulator]:
    """The frozen simulator, or for a moving trial its own one, following ``source_now``."""
    if not trial.moving:
        yield frozen
        return
    async with serve(_config(lambda: trial.source_now)) as running:
        yield running


async def _trial_task(
    trial: _Trial,
    frozen: RunningSimulator,
    lake: Callable[[_Trial], tuple[str, str | None]],
    gate: asyncio.Semaphore,
    audit: Callable[[_Trial, RunningSimulator], None],
) -> None:
    async with _source(trial, frozen) as source:
        lake_url, s3_endpoint = lake(trial)
        env = producer_env(
            api_url=source.base_url,
            lake_url=lake_url,
            start=trial.start,
            s3_endpoint=s3_endpoint,
            MESH_RESWEEP_HOURS="24" if trial.resweep else "0",
            # Every run re-sweeps what earlier runs landed (the schedule is in the checkpoint).
            MESH_TELEPHONY__RESWEEP_INTERVAL_SECONDS="0.001",
        )
        if trial.export_s is not None:
            async with gate:
                trial.export_s = await _measure_export(
                    {**env, "MESH_LAKE_URL": f"{lake_url}-probe"}, trial.windows
                )
            print(f"durability: {trial.context}: a clean export works {trial.export_s:.2f} s")
        await _run_trial(trial, env, gate)
        audit(trial, source)


async def _measure_export(env: dict[str, str], windows: int) -> float:
    """How long a clean run on a scratch root takes from ``daemon_started`` to its last window
    landed (its re-sweeps afterwards are not export: the run is then killed)."""
    async with await Producer.start(env) as producer:
        await producer.wait_for_event("daemon_started")
        started = asyncio.get_running_loop().time()
        await producer.wait_for_event("window_landed", count=windows, timeout_s=300)
        return asyncio.get_running_loop().time() - started


async def test_sigkill_anywhere_loses_and_duplicates_nothing(
    simulator: RunningSimulator, moto_server: str, bucket: str, tmp_path: Path
) -> None:
    """SIGKILL at random points, then a clean run: the lake is exactly once and consistent."""
    trials = []
    for i in range(math.ceil(_KILLS / _KILLS_PER_TRIAL)):
        backend, resweep, moving = _KINDS[i % len(_KINDS)]
        source_now = _NOW - timedelta(hours=3) if moving else _NOW
        trials.append(_Trial(i, _SEED + i, backend, resweep, moving, source_now))
    print(f"\ndurability: base seed {_SEED} ({len(trials)} trials)")

    def lake(trial: _Trial) -> tuple[str, str | None]:
        if trial.backend == "s3":
            return f"s3://{bucket}/{trial.root}", moto_server
        return (tmp_path / trial.root).as_uri(), None

    def audit(trial: _Trial, source: RunningSimulator) -> None:
        hidden: list[str] = []
        if trial.backend == "s3":
            objects = read_s3_lake(moto_server, bucket, trial.root)
        else:
            objects, hidden = read_file_lake(tmp_path / trial.root)
        _audit(trial, source, objects, hidden)

    await _run_trials(trials, simulator, lake, audit)
    if any(trial.moving for trial in trials):
        assert sum(t.resweep_commits for t in trials if t.moving), "late data was never re-swept"


@pytest.mark.parametrize("lake_backend", ["az", "gs"], indirect=True)
async def test_sigkill_anywhere_on_azure_and_gcs(
    simulator: RunningSimulator, lake_backend: str, lake_url: str, request: pytest.FixtureRequest
) -> None:
    """The same harness on Azure Blob (Azurite) and GCS (fake-gcs-server), fewer trials: a
    frozen source with re-sweeps on, ``DURABILITY_CLOUD_TRIALS`` trials (1 in CI) per store,
    kill moments from a measured export, a quarter of the kills or more mid-export."""
    trials = [
        _Trial(i, _SEED + 1000 + i, lake_backend, True, False, _NOW, export_s=_KILL_WINDOW_S)
        for i in range(_CLOUD_TRIALS)
    ]
    print(f"\ndurability ({lake_backend}): base seed {_SEED} ({len(trials)} trials)")

    def lake(trial: _Trial) -> tuple[str, str | None]:
        return f"{lake_url}/{trial.root}", None

    def audit(trial: _Trial, source: RunningSimulator) -> None:
        cut = f"{trial.root}/"
        objects = {
            key[len(cut) :]: data
            for key, data in read_backend(request, lake_url).items()
            if key.startswith(cut)
        }
        _audit(trial, source, objects, [])

    await _run_trials(trials, simulator, lake, audit, minimum_kills=_KILLS_PER_TRIAL * len(trials))


def _audit(
    trial: _Trial, source: RunningSimulator, objects: dict[str, bytes], hidden: list[str]
) -> None:
    found = audit_lake(objects)
    assert found.watermark == trial.watermark, trial.context
    truth = conversation_ids(source.sim, trial.start, trial.watermark)
    assert truth, "the simulated history must hold conversations"
    assert_exactly_once(found, truth, context=trial.context)
    assert all(Path(name).name.endswith(".tmp") for name in hidden), (trial.context, hidden)
    trial.records = len(found.landed) + len(found.dead)
    trial.hidden_files = len(hidden)


async def _run_trials(
    trials: list[_Trial],
    simulator: RunningSimulator,
    lake: Callable[[_Trial], tuple[str, str | None]],
    audit: Callable[[_Trial, RunningSimulator], None],
    *,
    minimum_kills: int = _KILLS,
    mid_export_share: float = 0.25,
) -> None:
    gate = asyncio.Semaphore(_PARALLEL)
    async with asyncio.TaskGroup() as group:
        for trial in trials:
            group.create_task(
                _trial_task(trial, simulator, lake, gate, audit), name=f"trial-{trial.index}"
            )

    kills = sum(trial.kills for trial in trials)
    phases: Counter[str] = Counter()
    for trial in trials:
        phases.update(trial.phases)
    _report(trials, kills, phases)
    assert kills >= minimum_kills, f"only {kills} of {minimum_kills} kills landed (seed {_SEED})"
    assert phases["mid-export"] >= int(kills * mid_export_share), (
        f"too few kills landed mid-export: {phases}"
    )


def _report(trials: list[_Trial], kills: int, phases: Counter[str]) -> None:
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary: dict[str, Any] = {
        "seed": _SEED,
        "trials": len(trials),
        "backends": dict(Counter(t.backend for t in trials)),
        "moving-source trials": sum(1 for t in trials if t.moving),
        "kills": kills,
        "runs": sum(t.runs for t in trials),
        "runs that finished before their kill": sum(t.finished_early for t in trials),
        "re-sweep commits": sum(t.resweep_commits for t in trials),
        "records checked": sum(t.records for t in trials),
        "orphaned temp files": sum(t.hidden_files for t in trials),
        "peak child RSS MiB": round(peak_kib / 1024, 1),
    }
    print("durability:", ", ".join(f"{k}={v}" for k, v in summary.items()))
    print("durability: kill points:", dict(sorted(phases.items())))
