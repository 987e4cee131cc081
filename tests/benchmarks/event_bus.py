"""The CPU cost of the event output port: ``run --once`` with and without a Kinesis stream.

``python -m tests.benchmarks.event_bus [--records N] [--repeat R]`` serves the simulator and
moto (Kinesis and S3) in processes of their own, then runs the producer (``run --once`` over a
backlog into a ``file://`` lake, Telephony alone) R times without a stream and R times with
``MESH_TELEPHONY__STREAM`` on a fresh two-shard stream, alternating. It prints each run's CPU
(user + system, the producer's process alone), the records landed and published, and the CPU
per published record: (median CPU with the stream - median without) / records published.
"""

from __future__ import annotations

import argparse
import statistics
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import boto3

from tests.benchmarks.lakes import Lake
from tests.benchmarks.runs import CLIENT, Measured, producer_env, run_producer
from tests.benchmarks.servers import Server

_FAST = {
    "MESH_TELEPHONY__JOB_POLL_SECONDS": "0.05",
    "MESH_TELEPHONY__RATE_LIMIT_PER_MINUTE": "100000",
    "MESH_REQUEST_TIMEOUT_SECONDS": "600",
}


def _landed(run: Measured) -> int:
    return sum(int(line["landed"]) for line in run.events("window_landed"))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    frozen = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = 2
    config = {
        "clients": {CLIENT[0]: CLIENT[1]},
        "conversations_per_hour": args.records / hours,
        "availability_lag_seconds": 0.0,
        "distinct_conversations": 256,
        "job_expiry_seconds": 4 * 3600.0,
        "job_queued_seconds": 0.02,
        "job_pending_seconds": 0.05,
        "frozen_now": frozen.isoformat(),
    }
    cpu: dict[bool, list[float]] = {False: [], True: []}
    published = 0
    with Server.start_simulator(config) as sim, Server.start_moto() as moto:
        kinesis = boto3.client(
            "kinesis",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for round_ in range(args.repeat):
            for with_stream in (round_ % 2 == 0, round_ % 2 != 0):
                lake = Lake.new_file()
                extra = dict(_FAST)
                if with_stream:
                    name = f"bench-{uuid.uuid4().hex[:8]}"
                    kinesis.create_stream(StreamName=name, ShardCount=2)
                    extra |= {
                        "MESH_TELEPHONY__STREAM": f"kinesis://{name}",
                        "AWS_ENDPOINT_URL_KINESIS": moto.url,
                        "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": "us-east-1",
                    }
                env = producer_env(
                    simulator_url=sim.url,
                    lake_url=lake.url,
                    start_at=frozen - timedelta(hours=hours),
                    window_seconds=900,
                    extra=extra,
                )
                run = run_producer(env)
                lake.discard()
                if run.exit_code != 0:
                    raise RuntimeError(f"producer exited {run.exit_code}\n{run.tail()}")
                landed = _landed(run)
                if with_stream:
                    published = landed
                cpu[with_stream].append(run.cpu_s)
                print(
                    f"round {round_ + 1} {'stream   ' if with_stream else 'no stream'}: "
                    f"cpu {run.cpu_s:.2f} s, wall {run.wall_s:.2f} s, landed {landed}",
                    flush=True,
                )
    without, with_ = statistics.median(cpu[False]), statistics.median(cpu[True])
    print(f"median cpu without stream {without:.2f} s, with stream {with_:.2f} s")
    if published:
        per_record = (with_ - without) / published * 1e6
        base = without / published * 1e6
        share = 100 * (with_ - without) / without
        print(
            f"published {published} records: +{per_record:.0f} us CPU per published record "
            f"({base:.0f} us per record without the stream, +{share:.0f} %)"
        )


if __name__ == "__main__":
    main()
