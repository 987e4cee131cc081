"""The event port under injected faults: three domains, each on its own stream, one ``run --once``.

``python -m tests.benchmarks.event_bus_faults [--hours H] [--every K] [--fail-calls N]`` serves
the simulator and moto (S3 and Kinesis) in processes of their own, puts the Kinesis fault proxy
of the tests in front of moto (one connection reset, one call refused whole for throughput, then
every K-th entry of the next N PutRecords refused), runs ``run --once`` for Telephony, Quality and
WFM with ``MESH_{DOMAIN}__STREAM`` set, and reads every stream back. It prints per domain the
records landed in the lake, the events on its stream, the distinct event ids and repeats, and for
the whole run the calls and entries the proxy refused (each one the producer had to send again).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import boto3

from producer.windows import align_down
from tests.benchmarks.servers import Server
from tests.fixtures.kinesis import KinesisFaultProxy, read_stream
from tests.fixtures.lake import lake_lines
from tests.fixtures.process import process_env, run_once_process
from tests.fixtures.s3 import read_lake

_DOMAINS = ("telephony", "quality", "wfm")
_PREFIXES = {"telephony": "telephony-cdr-export", "quality": "qms-scores-export", "wfm": "wfm-sch"}


def _aws(endpoint: str, service: str) -> object:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


async def _measure(args: argparse.Namespace) -> None:
    now = align_down(datetime.now(UTC), 900)
    start = now - timedelta(hours=args.hours)
    config = {
        "clients": {f"{d}-client": f"{d}-secret" for d in _DOMAINS},
        "conversations_per_hour": 300.0,
        "evaluations_per_hour": 200.0,
        "rate_limit_per_minute": 100_000,
        "availability_lag_seconds": 0.0,
        "evaluation_index_lag_seconds": 0.0,
        "frozen_now": now.isoformat(),
    }
    with Server.start_simulator(config) as simulator, Server.start_moto() as moto:
        bucket, tag = "bus-faults", uuid.uuid4().hex[:8]
        s3, kinesis = _aws(moto.url, "s3"), _aws(moto.url, "kinesis")
        s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        streams = {d: f"{d}-{tag}" for d in _DOMAINS}
        for name in streams.values():
            kinesis.create_stream(StreamName=name, ShardCount=2)  # type: ignore[attr-defined]
        proxy = KinesisFaultProxy(moto.url)
        await proxy.start()
        proxy.reset_calls(1)
        proxy.throttle_calls(1)
        proxy.fail_entries(calls=args.fail_calls, every=args.every)
        env = process_env(
            api_url=simulator.url,
            lake_url=f"s3://{bucket}",
            start=start,
            s3_endpoint=moto.url,
            MESH_REQUEST_RETRY_SECONDS="60",
            AWS_ENDPOINT_URL_KINESIS=proxy.url,
        )
        for domain in _DOMAINS:
            upper = domain.upper()
            env[f"MESH_{upper}__CLIENT_ID"] = f"{domain}-client"
            env[f"MESH_{upper}__CLIENT_SECRET"] = f"{domain}-secret"
            env[f"MESH_{upper}__PREFIX"] = _PREFIXES[domain]
            env[f"MESH_{upper}__RATE_LIMIT_PER_MINUTE"] = "100000"
            env[f"MESH_{upper}__STREAM"] = f"kinesis://{streams[domain]}"
        env["MESH_TELEPHONY__JOB_POLL_SECONDS"] = "0.05"
        env["MESH_QUALITY__SETTLE_SECONDS"] = "0"
        env["MESH_WFM__HORIZON_WEEKS"] = "1"
        try:
            code, output = await run_once_process(env, timeout_s=1800)
        finally:
            await proxy.close()
        print(f"run --once exit {code}, {args.hours} h of history")
        if code != 0:
            print(output[-3000:])
        objects = read_lake(moto.url, bucket)
        print(f"{'domain':<10} {'landed':>7} {'events':>7} {'ids':>7} {'repeats':>8}")
        for domain in _DOMAINS:
            landed = lake_lines(objects, f"{_PREFIXES[domain]}/v")
            records = read_stream(moto.url, streams[domain])
            ids = Counter(str(r.data.get("event_id")) for r in records)
            repeats = sum(n - 1 for n in ids.values())
            print(f"{domain:<10} {len(landed):>7} {len(records):>7} {len(ids):>7} {repeats:>8}")
        print(
            f"proxy: {len(proxy.entries)} PutRecords forwarded, {sum(proxy.entries)} entries "
            f"taken; refused: {proxy.refused_calls} calls whole (reset or throttled), "
            f"{proxy.refused_entries} entries inside partly failed calls"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--every", type=int, default=3, help="refuse every K-th entry")
    parser.add_argument("--fail-calls", type=int, default=4, help="calls with refused entries")
    asyncio.run(_measure(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
