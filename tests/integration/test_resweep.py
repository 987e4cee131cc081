"""Late data: a re-sweep lands what changed, duplicates nothing, rewrites nothing else.

The simulator's clock is moved by hand: conversations still active at the first export are
dead-lettered (``conversation_active``); an hour later they have ended, and the re-sweep lands
them in their window's data and takes them out of its DLQ.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer import daemon
from producer.lake.encode import decode_part
from producer.settings import Settings, TelephonySettings
from producer.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down

_T0 = align_down(datetime.now(UTC), 900) - timedelta(hours=3)
_NOW = [_T0]


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """A simulator whose clock the test moves; long calls, so some are active at first."""
    return SimulatorConfig(
        clients={"telephony-client": "telephony-secret"},
        conversations_per_hour=300.0,
        availability_lag_seconds=0.0,
        job_queued_seconds=0.01,
        job_pending_seconds=0.02,
        now=lambda: _NOW[0],
    )


def _settings(simulator: RunningSimulator, lake: Path) -> Settings:
    return Settings(
        domains=("telephony",),
        genesys_api_url=simulator.base_url,
        genesys_login_url=simulator.base_url,
        lake_url=lake.as_uri(),
        start_at=_T0 - timedelta(hours=1),
        http_port=0,
        http_host="127.0.0.1",
        telephony=TelephonySettings(
            client_id="telephony-client",
            client_secret=SecretStr("telephony-secret"),
            job_poll_seconds=0.01,
            rate_limit_per_minute=6000,
            resweep_hours=24,
        ),
    )


def _snapshot(lake: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(lake)): p.read_bytes() for p in sorted(lake.rglob("*")) if p.is_file()
    }


def _lines(objects: dict[str, bytes], marker: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for key, data in objects.items():
        if marker in key and key.endswith(".gz"):
            found.extend(orjson.loads(line) for line in decode_part(data, "gzip"))
    return found


async def _run(simulator: RunningSimulator, lake: Path) -> CollectorRegistry:
    registry = CollectorRegistry()
    result = await daemon.run(
        _settings(simulator, lake), once=True, registry=registry, install_signal_handlers=False
    )
    assert result.ok, result.reports
    return registry


async def test_resweep_lands_late_changes_exactly_once(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Active-then-ended conversations move from DLQ to data; every id stays exactly once."""
    lake = tmp_path / "lake"
    _NOW[0] = _T0
    await _run(simulator, lake)
    first = _snapshot(lake)
    active_before = [
        line
        for line in _lines(first, "failed-records")
        if any(error["rule"] == "conversation_active" for error in line["errors"])
    ]
    assert active_before, "the scenario needs conversations still active at the first export"

    _NOW[0] = _T0 + timedelta(hours=1)
    registry = await _run(simulator, lake)
    after = _snapshot(lake)
    checkpoint = orjson.loads(after["telephony-cdr-export/_state/checkpoint.json"])
    watermark = datetime.fromisoformat(checkpoint["watermark"])
    start = _T0 - timedelta(hours=1)
    truth = {
        c["conversationId"]
        for c in simulator.sim.conversations(start, watermark)
        if start <= datetime.fromisoformat(c["conversationStart"]) < watermark
    }
    landed = [line["data"]["interaction_id"] for line in _lines(after, "/v1/")]
    dead = [line["source"]["conversationId"] for line in _lines(after, "failed-records")]
    assert len(landed) == len(set(landed))
    assert len(dead) == len(set(dead))
    assert not set(landed) & set(dead)
    assert set(landed) | set(dead) == truth
    moved = {line["source"]["conversationId"] for line in active_before} & set(landed)
    assert moved, "late-ended conversations must have landed on the re-sweep"
    totals = checkpoint["totals"]
    assert totals == {"fetched": len(truth), "landed": len(landed), "dead_lettered": len(dead)}
    changed = registry.get_sample_value(
        "mesh_resweeps_total", {"domain": "telephony", "outcome": "changed"}
    )
    assert changed is not None
    assert changed >= 1

    await _run(simulator, lake)
    assert _snapshot(lake) == after, "a re-sweep of unchanged windows rewrote something"
