"""S3 faults under the daemon: retried with backoff, or the window fails whole and is redone.

The daemon runs in-process with an ``s3://`` lake reached through ``S3FaultProxy`` (503
SlowDown, 500, resets, lost responses, truncated bodies). Short bursts are absorbed by the
store's retries; a lasting failure fails the window without moving the checkpoint, the daemon
keeps running and lands the window once S3 recovers. The lake is read back from moto directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from producer.lake.keys import checkpoint_key
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.durability.audit import (
    PREFIX,
    assert_exactly_once,
    audit_lake,
    read_s3_lake,
)
from tests.durability.inprocess import (
    daemon_settings,
    run_daemon,
    sample,
)
from tests.fixtures.runs import run_once
from tests.fixtures.s3_faults import S3FaultProxy
from tests.fixtures.simulator import conversation_ids, telephony_config

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_WATERMARK = align_down(_NOW - timedelta(minutes=15), 900)
_START = _WATERMARK - timedelta(minutes=45)  # three windows
_CHECKPOINT = checkpoint_key(PREFIX)


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A frozen clock, so the ground truth and the last window are known in advance."""
    return telephony_config(lambda: _NOW, conversations_per_hour=240.0, rate_limit_per_minute=0)


async def test_short_s3_fault_bursts_are_absorbed_by_retries(
    simulator: RunningSimulator, s3_faults_env: S3FaultProxy, bucket: str, moto_server: str
) -> None:
    """SlowDown, 500, a reset, truncated bodies and a lost CAS response: nothing fails."""
    proxy = s3_faults_env
    proxy.slow_down_next(2, method="PUT", path_contains="/v1/")
    proxy.fail_next(2, method="PUT", path_contains="/failed-records/")
    proxy.lose_response_next(1, method="PUT", path_contains=_CHECKPOINT)
    # The load's 404 and then the CAS check after the lost response (a streamed 200 body).
    proxy.truncate_next(2, method="GET", path_contains=_CHECKPOINT)
    # And one reset read: the next GET the truncations above do not take (a fresh lake has no
    # part to HEAD: the writer puts a part whose key its listing did not show).
    proxy.reset_next(1, method="GET")
    registry = CollectorRegistry()
    settings = daemon_settings(api_url=simulator.base_url, lake_url=f"s3://{bucket}", start=_START)

    await run_once(settings, registry)

    assert sample(registry, "mesh_windows_total", outcome="failed") == 0
    assert sample(registry, "mesh_domain_restarts_total") == 0
    served = {
        outcome: proxy.served(outcome)
        for outcome in ("slow_down", "internal_error", "reset", "lost_response", "truncated")
    }
    assert served == {
        "slow_down": 2,
        "internal_error": 2,
        "reset": 1,
        "lost_response": 1,
        "truncated": 2,
    }
    audit = audit_lake(read_s3_lake(moto_server, bucket))
    assert audit.watermark == _WATERMARK
    assert_exactly_once(audit, conversation_ids(simulator.sim, _START, _WATERMARK))


async def test_lasting_s3_failure_fails_the_window_and_the_daemon_lands_it_later(
    simulator: RunningSimulator,
    s3_faults_env: S3FaultProxy,
    bucket: str,
    moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every DLQ put fails: the window fails, the checkpoint stays, a later attempt lands it."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # keep botocore's backoff short in the test
    proxy = s3_faults_env
    proxy.slow_down_next(None, method="PUT", path_contains="/failed-records/")
    lake_at_failure: dict[str, bytes] = {}

    def recover() -> None:
        lake_at_failure.update(read_s3_lake(moto_server, bucket))
        proxy.clear()

    registry = CollectorRegistry()
    settings = daemon_settings(api_url=simulator.base_url, lake_url=f"s3://{bucket}", start=_START)
    result = await run_daemon(
        settings, registry, until_watermark=_WATERMARK, on_first_failure=recover
    )

    assert result.ok, result.reports
    assert sample(registry, "mesh_windows_total", outcome="failed") >= 1
    assert sample(registry, "mesh_domain_restarts_total") == 0, "the daemon itself kept running"
    assert proxy.served("slow_down") >= 2, "botocore retried before giving up"
    assert lake_at_failure, "the failed window had written its data parts"
    assert _CHECKPOINT not in lake_at_failure, "the checkpoint moved past a failed window"
    audit = audit_lake(read_s3_lake(moto_server, bucket))
    assert audit.watermark == _WATERMARK
    assert_exactly_once(audit, conversation_ids(simulator.sim, _START, _WATERMARK))
