"""Two-writer benchmark (not a test): two producers with different views race for one domain.

Each trial runs two real ``python -m producer run --once`` processes on one lake, each against
its own simulator: A sees 240 conversations an hour, B other and fewer (200 an hour, another
seed). Random delays (A's first availability answer, B's first results page, B's start) decide
who reads, writes and commits when. After both exit, every window the checkpoint accounts for is
compared with the lake: records the checkpoint counts but the lake does not hold are *lost*;
a window holding neither writer's view alone is *mixed*. Prints one line per trial and a summary.

    python -m tests.benchmarks.two_writers --trials 20 --seed 1 [--s3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from producer.platforms.genesys.simulator import RunningSimulator, serve
from producer.windows import align_down, parse_instant
from tests.durability.audit import LakeAudit, audit_lake, read_file_lake, read_s3_lake
from tests.durability.process import Producer, producer_env
from tests.fixtures.simulator import conversation_ids, telephony_config

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = align_down(_NOW - timedelta(minutes=15), 900) - timedelta(minutes=90)  # six windows


@dataclass(frozen=True)
class Trial:
    codes: tuple[int, int]
    windows: int
    records: int
    lost: int
    mixed: int
    seconds: float


@asynccontextmanager
async def _sources() -> AsyncIterator[tuple[RunningSimulator, RunningSimulator]]:
    knobs = {"rate_limit_per_minute": 0, "max_concurrent_jobs": 20}
    a_config = telephony_config(lambda: _NOW, conversations_per_hour=240.0, **knobs)
    b_config = telephony_config(lambda: _NOW, conversations_per_hour=200.0, seed=11, **knobs)
    async with serve(a_config) as a, serve(b_config) as b:
        yield a, b


def _judge(audit: LakeAudit, views: tuple[RunningSimulator, RunningSimulator]) -> tuple[int, int]:
    """Records counted by the checkpoint but missing from the lake, and mixed windows."""
    lost = mixed = 0
    checkpoint = audit.checkpoint or {}
    for label, entry in checkpoint.get("recent_windows", {}).items():
        lines = audit.lines_by_window[label]
        held = lines["data"] + lines["dlq"]
        lost += max(0, entry["counts"]["fetched"] - held)
        start, end = (parse_instant(part) for part in label.split("-"))
        ids = set(audit.ids_by_window.get(label, []))
        if ids not in [conversation_ids(view.sim, start, end) for view in views]:
            mixed += 1
    return lost, mixed


async def _trial(rng: random.Random, s3: str | None) -> Trial:
    started = time.monotonic()
    async with _sources() as (a, b):
        a.sim.slow_next(1, rng.uniform(0.0, 2.0), path_contains="/availability")
        b.sim.slow_next(1, rng.uniform(0.0, 6.0), path_contains="/results")
        with tempfile.TemporaryDirectory() as folder:
            bucket = f"race-{rng.getrandbits(40):010x}"
            lake_url = f"s3://{bucket}" if s3 else Path(folder, "lake").as_uri()
            if s3:
                _create_bucket(s3, bucket)
            common = {"MESH_RESWEEP_HOURS": "24", "MESH_LEASE_SECONDS": "8"}
            env_a = producer_env(
                api_url=a.base_url, lake_url=lake_url, start=_START, s3_endpoint=s3, **common
            )
            env_b = producer_env(
                api_url=b.base_url, lake_url=lake_url, start=_START, s3_endpoint=s3, **common
            )
            async with await Producer.start(env_a) as first:
                await asyncio.sleep(rng.uniform(0.0, 1.0))
                async with await Producer.start(env_b) as second:
                    codes = (await first.wait(), await second.wait())
            objects = read_s3_lake(s3, bucket) if s3 else read_file_lake(Path(folder, "lake"))[0]
    audit = audit_lake(objects)
    lost, mixed = _judge(audit, (a, b))
    windows = len((audit.checkpoint or {}).get("recent_windows", {}))
    records = len(audit.landed) + len(audit.dead)
    return Trial(codes, windows, records, lost, mixed, time.monotonic() - started)


def _create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)


async def _main(trials: int, seed: int, use_s3: bool) -> None:
    rng = random.Random(seed)
    server = None
    endpoint = None
    if use_s3:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
    results = []
    try:
        for number in range(1, trials + 1):
            trial = await _trial(rng, endpoint)
            results.append(trial)
            print(
                f"trial {number:3d}: exit codes {trial.codes}, {trial.windows} windows, "
                f"{trial.records} records in the lake, lost {trial.lost}, mixed windows "
                f"{trial.mixed}, {trial.seconds:.1f} s",
                flush=True,
            )
    finally:
        if server is not None:
            server.stop()
    short = sum(1 for t in results if t.lost)
    print(
        f"{'s3 (moto)' if use_s3 else 'file://'}, seed {seed}: {len(results)} trials, "
        f"{short} with records lost, {sum(t.lost for t in results)} records lost in all "
        f"(max {max((t.lost for t in results), default=0)} in one trial), "
        f"{sum(t.mixed for t in results)} mixed windows, "
        f"{sum(1 for t in results if 1 in t.codes)} trials with a fenced writer (exit 1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--s3", action="store_true", help="a moto S3 lake instead of file://")
    args = parser.parse_args()
    asyncio.run(_main(args.trials, args.seed, args.s3))


if __name__ == "__main__":
    main()
