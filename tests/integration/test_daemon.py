"""The daemon in-process: accounting in metrics and checkpoint, failed windows, health, shutdown.

Runs ``daemon.run`` against the simulator and both lakes (``file://`` and moto S3) with a fresh
Prometheus registry per test.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from producer import daemon
from producer.checkpoint import CheckpointStore
from producer.lake.store import open_store
from producer.platforms.genesys.simulator import RunningSimulator
from producer.settings import LakeLocation, Settings
from producer.telemetry.metrics import Metrics
from producer.windows import align_down
from tests.fixtures.runs import (
    daemon_running,
    free_port,
    run_once,
    telephony_domain,
    telephony_settings,
)
from tests.fixtures.simulator import conversation_ids

_SECRET = "telephony-secret"
_START = align_down(datetime.now(UTC) - timedelta(hours=1, minutes=30), 900)


def _settings(
    simulator: RunningSimulator, lake_url: str, *, secret: str = _SECRET, **extra: Any
) -> Settings:
    """From ``_START``, requests given up after 10 s; ``extra`` sets other top-level settings."""
    return telephony_settings(
        simulator.base_url,
        lake_url,
        start_at=_START,
        request_retry_seconds=10,
        telephony=telephony_domain(client_secret=SecretStr(secret), page_size=50),
        **extra,
    )


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"domain": "telephony", **labels}) or 0.0


async def _checkpoint(lake_url: str) -> Any:
    async with open_store(LakeLocation.parse(lake_url)) as store:
        metrics = Metrics(CollectorRegistry()).for_domain("telephony")
        loaded, _ = await CheckpointStore(
            store, prefix="telephony-cdr-export", domain="telephony", metrics=metrics
        ).load()
    return loaded


async def test_run_once_accounting_holds_in_metrics_and_checkpoint(
    simulator: RunningSimulator, lake_url: str
) -> None:
    """fetched = landed + dead_lettered, identical in the metrics and in the checkpoint.

    Re-sweeps are off here: a re-export counts its records again in the metrics (per export)
    while the checkpoint replaces the window's counts (what the lake holds).
    """
    registry = CollectorRegistry()
    result = await run_once(_settings(simulator, lake_url, resweep_hours=0), registry)
    fetched = _sample(registry, "mesh_records_total", outcome="fetched")
    landed = _sample(registry, "mesh_records_total", outcome="landed")
    dead = _sample(registry, "mesh_records_total", outcome="dead_lettered")
    assert fetched > 0
    assert fetched == landed + dead
    checkpoint = await _checkpoint(lake_url)
    assert checkpoint is not None
    assert (checkpoint.totals.fetched, checkpoint.totals.landed) == (fetched, landed)
    assert checkpoint.totals.dead_lettered == dead
    report = result.reports["telephony"]
    assert report.counts == checkpoint.totals
    assert checkpoint.watermark == report.watermark
    windows = _sample(registry, "mesh_windows_total", outcome="landed")
    assert windows == report.windows >= 1


async def test_a_domain_runs_and_reports_its_own_window_length(
    simulator: RunningSimulator, lake_url: str
) -> None:
    """``MESH_TELEPHONY__WINDOW_SECONDS=1800`` beside the process-wide 900: half-hour windows,
    and ``mesh_window_seconds`` (the export-lag alert's unit) says so."""
    registry = CollectorRegistry()
    settings = telephony_settings(
        simulator.base_url,
        lake_url,
        start_at=_START,
        request_retry_seconds=10,
        telephony=telephony_domain(page_size=50, resweep_hours=0, window_seconds=1800),
    )
    assert settings.window_seconds == 900
    result = await run_once(settings, registry)
    assert _sample(registry, "mesh_window_seconds") == 1800
    checkpoint = await _checkpoint(lake_url)
    assert checkpoint is not None
    span = checkpoint.watermark - align_down(_START, 1800)
    assert span >= timedelta(seconds=1800)
    assert span % timedelta(seconds=1800) == timedelta(0)
    # as many windows as half hours: 900 s windows would be twice as many
    assert result.reports["telephony"].windows == span // timedelta(seconds=1800)


async def test_failed_job_is_rerun_not_skipped(simulator: RunningSimulator, tmp_path: Path) -> None:
    """A job that ends FAILED fails its window; the retry lands it and the counts still match."""
    lake_url = (tmp_path / "lake").as_uri()
    simulator.sim.fail_next_job()
    registry = CollectorRegistry()
    await run_once(_settings(simulator, lake_url), registry)
    assert _sample(registry, "mesh_windows_total", outcome="failed") == 1
    checkpoint = await _checkpoint(lake_url)
    truth = conversation_ids(simulator.sim, _START, checkpoint.watermark)
    assert checkpoint.totals.fetched == len(truth)


async def test_wrong_secret_fails_the_domain_and_commits_nothing(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """invalid_client: run --once reports the domain as failed; no checkpoint is written."""
    lake_url = (tmp_path / "lake").as_uri()
    result = await daemon.run(
        _settings(simulator, lake_url, secret="wrong"),
        once=True,
        registry=CollectorRegistry(),
        install_signal_handlers=False,
    )
    assert not result.ok
    error = result.reports["telephony"].error
    assert error is not None
    assert "invalid_client" in error
    assert "wrong" not in error
    assert await _checkpoint(lake_url) is None


async def test_broken_contract_fails_its_domain_with_exit_2(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """A contract file that does not parse: the domain fails naming the file; exit code 2."""
    contracts = tmp_path / "contracts" / "telephony"
    contracts.mkdir(parents=True)
    (contracts / "1.0.json").write_text("{not json")
    settings = _settings(
        simulator, (tmp_path / "lake").as_uri(), contracts_dir=tmp_path / "contracts"
    )
    result = await daemon.run(settings, once=True, install_signal_handlers=False)
    report = result.reports["telephony"]
    assert report.config_error
    assert report.error is not None
    assert "1.0.json" in report.error
    assert result.exit_code == 2


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_readyz_names_the_domain_without_a_token(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """With a rejected secret, /readyz is 503 naming telephony; /healthz and /metrics answer."""
    port = free_port()
    settings = _settings(simulator, (tmp_path / "lake").as_uri(), secret="wrong", http_port=port)
    async with daemon_running(settings) as running:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            await asyncio.sleep(0.05)
            status, body = await _get(f"{base}/readyz")
            if "invalid_client" in body:
                break
        assert status == 503
        assert "telephony" in body
        assert "invalid_client" in body
        assert (await _get(f"{base}/healthz"))[0] == 200
        status, metrics = await _get(f"{base}/metrics")
        assert status == 200
        assert 'mesh_domain_ready{domain="telephony"} 0.0' in metrics
        assert "wrong" not in metrics
    assert running.result().reports["telephony"].windows == 0


async def test_readyz_is_ready_once_the_domain_runs(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """With a good client the domain becomes ready and /readyz answers 200."""
    port = free_port()
    settings = _settings(simulator, (tmp_path / "lake").as_uri(), http_port=port)
    async with daemon_running(settings):
        for _ in range(200):
            await asyncio.sleep(0.05)
            status, body = await _get(f"http://127.0.0.1:{port}/readyz")
            if status == 200:
                break
        assert status == 200, body


async def test_stop_mid_window_abandons_it_without_committing(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Stopping during a slow window: after the grace it is cancelled, nothing is committed."""
    lake_url = (tmp_path / "lake").as_uri()
    simulator.sim.slow_next(1, 20.0, path_contains="/results")
    settings = _settings(simulator, lake_url, shutdown_grace_seconds=0.5)
    async with daemon_running(settings, stop_timeout_s=10) as running:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if any(r.path.endswith("/results") for r in simulator.sim.requests) or any(
                r.method == "POST" for r in simulator.sim.requests
            ):
                break
        await asyncio.sleep(0.3)
    result = running.result()
    assert result.ok
    assert result.reports["telephony"].windows == 0
    assert await _checkpoint(lake_url) is None
    assert not list((tmp_path / "lake").rglob("*.ndjson.gz")), "no part of the cut window"


async def test_stop_while_the_source_is_down_returns_promptly(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Stopping while requests outside a window keep retrying cuts them off at once."""
    simulator.sim.fail_next(10_000, 503, path_contains="/availability")
    settings = _settings(simulator, (tmp_path / "lake").as_uri())  # retries for 10 s
    async with daemon_running(settings, stop_timeout_s=5) as running:
        for _ in range(200):
            await asyncio.sleep(0.05)
            if any(r.status == 503 for r in simulator.sim.requests):
                break
    assert running.result().ok
    assert await _checkpoint((tmp_path / "lake").as_uri()) is None


async def test_rejections_over_the_threshold_post_one_alert(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """The daemon feeds the alert monitor: one Slack-style POST per cooldown, naming the DLQ."""
    received: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        settings = _settings(
            simulator,
            (tmp_path / "lake").as_uri(),
            alert_webhook_url=SecretStr(f"http://127.0.0.1:{port}/hook"),
            alert_threshold_ratio=0.01,
            alert_min_records=1,
            alert_cooldown_seconds=3600,
        )
        registry = CollectorRegistry()
        await run_once(settings, registry)
    finally:
        await runner.cleanup()
    assert len(received) == 1, received
    text = orjson.dumps(received[0]).decode()
    assert "telephony" in text
    assert "failed-records" in text
    assert _sample(registry, "mesh_alerts_total", outcome="sent") == 1


@pytest.mark.usefixtures("s3_env")
async def test_readyz_names_a_lake_that_cannot_be_reached(simulator: RunningSimulator) -> None:
    """A bucket that does not exist: /readyz is 503 with a lake reason; nothing is committed."""
    port = free_port()
    settings = _settings(simulator, "s3://no-such-bucket-for-this-test", http_port=port)
    async with daemon_running(settings) as running:
        body = ""
        for _ in range(200):
            await asyncio.sleep(0.05)
            status, body = await _get(f"http://127.0.0.1:{port}/readyz")
            if "lake:" in body:
                break
        assert status == 503
        assert "telephony" in body
        assert "lake:" in body
    assert running.result().reports["telephony"].windows == 0
