"""End to end: ``mesh-producer run --once`` as a subprocess against the simulator and moto S3.

The lake is read back with boto3 and compared with the simulator's ground truth: every
conversation that started in the landed windows is present exactly once across data and DLQ,
DLQ lines carry their reasons, the checkpoint balances, and a second run changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.fixtures.lake import assert_each_once, lake_lines
from tests.fixtures.process import clean_env, process_env, run_once_process
from tests.fixtures.s3 import read_lake
from tests.fixtures.simulator import TELEPHONY_CLIENT, conversation_ids, telephony_config

pytestmark = pytest.mark.e2e

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_START = _NOW - timedelta(hours=2, minutes=7)


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen simulator clock, so a second run finds no newly available window."""
    return telephony_config(lambda: _NOW, conversations_per_hour=400.0, rate_limit_per_minute=3000)


def _env(simulator: RunningSimulator, endpoint: str, bucket: str) -> dict[str, str]:
    """Telephony into an S3 lake, kept under the simulator's 3000 requests a minute."""
    return process_env(
        api_url=simulator.base_url,
        lake_url=f"s3://{bucket}",
        start=_START,
        s3_endpoint=endpoint,
        MESH_DOMAINS="telephony",
        MESH_TELEPHONY__CLIENT_ID=TELEPHONY_CLIENT[0],
        MESH_TELEPHONY__CLIENT_SECRET=TELEPHONY_CLIENT[1],
        MESH_TELEPHONY__JOB_POLL_SECONDS="0.05",
        MESH_TELEPHONY__PAGE_SIZE="40",
        MESH_TELEPHONY__RATE_LIMIT_PER_MINUTE="2400",
        MESH_REQUEST_RETRY_SECONDS="60",
    )


async def test_run_once_lands_every_conversation_exactly_once_despite_faults(
    simulator: RunningSimulator, moto_server: str, bucket: str, tmp_path: Path
) -> None:
    """Faults on (429s, a 503, a truncated page): every conversation lands exactly once."""
    simulator.sim.throttle_next(2, retry_after=1)
    simulator.sim.fail_next(1, 503)
    simulator.sim.truncate_next(1)
    env = _env(simulator, moto_server, bucket)

    code, output = await run_once_process(env, timeout_s=100)
    assert code == 0, output

    objects = read_lake(moto_server, bucket)
    checkpoint = orjson.loads(objects["telephony-cdr-export/_state/checkpoint.json"])
    watermark = datetime.fromisoformat(checkpoint["watermark"])
    # Windows end at the availability date (frozen now - 15 min), aligned down.
    assert watermark == align_down(_NOW - timedelta(minutes=15), 900)

    truth = conversation_ids(simulator.sim, _START, watermark)
    landed = [line["data"]["interaction_id"] for line in lake_lines(objects, "/v1/")]
    dead_lines = lake_lines(objects, "/failed-records/")
    dead = [line["source"]["conversationId"] for line in dead_lines]
    assert_each_once(landed, dead, truth)
    assert landed, "the simulator's mix must produce landed records"
    assert dead, "the simulator's mix must produce rejected records"
    for line in dead_lines:
        assert line["errors"], line
        assert all(error["rule"] and error["message"] for error in line["errors"])
        assert line["stage"] in {"parse", "mapping", "validation"}

    totals = checkpoint["totals"]
    assert totals["fetched"] == len(truth)
    assert totals["landed"] == len(landed)
    assert totals["dead_lettered"] == len(dead)
    statuses = {record.status for record in simulator.sim.requests}
    assert {429, 503} <= statuses, "the faults must actually have been served"

    code, output = await run_once_process(env, timeout_s=100)
    assert code == 0, output
    assert read_lake(moto_server, bucket) == objects, "a second run changed the lake"


async def test_bad_configuration_exits_2_with_one_line(tmp_path: Path) -> None:
    """A bad variable: exit 2, one line on stderr naming the variable and the problem."""
    env = clean_env() | {
        "MESH_DOMAINS": "telephony",
        "MESH_TELEPHONY__CLIENT_ID": "x",
        "MESH_TELEPHONY__CLIENT_SECRET": "y",
        "MESH_WINDOW_SECONDS": "7000",
    }
    code, output = await run_once_process(env, timeout_s=100)
    assert code == 2
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "MESH_WINDOW_SECONDS" in lines[0]
    assert "divide a day" in lines[0]


async def test_missing_client_id_exits_2_naming_it() -> None:
    """An enabled domain without its OAuth client id is named by its variable."""
    env = clean_env() | {"MESH_DOMAINS": "telephony"}
    code, output = await run_once_process(env, timeout_s=100)
    assert code == 2
    assert output.strip().splitlines() == [
        "mesh-producer: MESH_TELEPHONY__CLIENT_ID: required because telephony is in MESH_DOMAINS"
    ]
