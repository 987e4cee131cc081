"""A real Prometheus scrapes a real producer: the path from /metrics to alerts and dashboards.

Starts ``python -m producer run`` (the daemon, as in the pod) against the simulator with a
``file://`` lake, and a ``prometheus`` server on loopback that scrapes it every second with the
project's alert rules loaded. Prometheus must answer a PromQL query about ``mesh_`` metrics,
evaluate every alert rule without error and accept every dashboard query; ``promtool check
metrics`` must accept the producer's exposition. Both processes are stopped cleanly.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml

from producer.platforms.genesys.simulator import RunningSimulator
from tests.deploy.artifacts import RULES, alert_rules, dashboard_exprs
from tests.deploy.tools import require_tool
from tests.fixtures.simulator import TELEPHONY_CLIENT

T = TypeVar("T")

_DEADLINE_S = 60.0
_LISTENING = re.compile(r'msg="Listening on" address=(\S+)')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


async def _until(probe: Callable[[], Awaitable[T | None]], what: str, log: Path) -> T:
    """Poll ``probe`` until it returns a value; fail after a bounded wait, showing ``log``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _DEADLINE_S
    while loop.time() < deadline:
        found = await probe()
        if found is not None:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; log:\n{_tail(log)}")


@asynccontextmanager
async def _process(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run a process with output to ``log``; on exit send SIGTERM and wait (bounded)."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), timeout=30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                    raise AssertionError(f"{argv[0]} ignored SIGTERM; log:\n{_tail(log)}") from None


def _producer_env(simulator: RunningSimulator, port: int, lake: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESH_", "AWS_"))}
    start = datetime.now(UTC) - timedelta(hours=1)
    env.update(
        {
            "MESH_DOMAINS": "telephony",
            "MESH_GENESYS_API_URL": simulator.base_url,
            "MESH_GENESYS_LOGIN_URL": simulator.base_url,
            "MESH_LAKE_URL": f"file://{lake}",
            "MESH_START_AT": start.isoformat(),
            "MESH_HTTP_HOST": "127.0.0.1",
            "MESH_HTTP_PORT": str(port),
            "MESH_SHUTDOWN_GRACE_SECONDS": "5",
            "MESH_LOG_LEVEL": "WARNING",
            "MESH_TELEPHONY__CLIENT_ID": TELEPHONY_CLIENT[0],
            "MESH_TELEPHONY__CLIENT_SECRET": TELEPHONY_CLIENT[1],
            "MESH_TELEPHONY__JOB_POLL_SECONDS": "0.05",
        }
    )
    return env


def _prometheus_config(tmp_path: Path, producer_port: int) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "mesh-producer",
                "static_configs": [{"targets": [f"127.0.0.1:{producer_port}"]}],
            }
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


async def _api(http: aiohttp.ClientSession, base: str, path: str, **params: str) -> Any:
    async with http.get(f"{base}/api/v1/{path}", params=params) as response:
        body = await response.json()
        assert body["status"] == "success", body
        return body["data"]


async def test_prometheus_scrapes_the_producer_and_evaluates_the_rules(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Prometheus answers mesh_ queries from a live producer; rules and dashboard queries work."""
    prometheus = require_tool("prometheus")
    promtool = require_tool("promtool")
    port = _free_port()
    producer_log, prometheus_log = tmp_path / "producer.log", tmp_path / "prometheus.log"
    producer_argv = [sys.executable, "-m", "producer", "run"]
    env = _producer_env(simulator, port, tmp_path / "lake")
    prometheus_argv = [
        prometheus,
        f"--config.file={_prometheus_config(tmp_path, port)}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        "--web.listen-address=127.0.0.1:0",
    ]
    async with (
        aiohttp.ClientSession() as http,
        _process(producer_argv, producer_log, env) as producer,
        _process(prometheus_argv, prometheus_log) as server,
    ):

        async def listening() -> str | None:
            assert server.returncode is None, _tail(prometheus_log)
            match = _LISTENING.search(prometheus_log.read_text(errors="replace"))
            return f"http://{match.group(1)}" if match else None

        base = await _until(listening, "prometheus to listen", prometheus_log)

        async def server_ready() -> bool | None:
            async with http.get(f"{base}/-/ready") as response:
                return True if response.status == 200 else None

        await _until(server_ready, "prometheus to be ready", prometheus_log)

        async def telephony_ready() -> list[Any] | None:
            assert producer.returncode is None, _tail(producer_log)
            result: list[Any] = (
                await _api(http, base, "query", query='mesh_domain_ready{job="mesh-producer"}')
            )["result"]
            return result if result and result[0]["value"][1] == "1" else None

        (sample,) = await _until(telephony_ready, "mesh_domain_ready == 1", producer_log)
        assert sample["metric"]["domain"] == "telephony"
        names = await _api(http, base, "label/__name__/values")
        assert {"mesh_records_total", "mesh_token_expiry_timestamp_seconds"} <= set(names)

        for expr in dashboard_exprs():
            await _api(http, base, "query", query=expr)  # asserts status == success

        async def rules_evaluated() -> list[dict[str, Any]] | None:
            groups = (await _api(http, base, "rules", type="alert"))["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return rules if rules and all(r["health"] != "unknown" for r in rules) else None

        rules = await _until(rules_evaluated, "the alert rules to be evaluated", prometheus_log)
        loaded = {rule["name"] for rule in rules}
        assert loaded == {rule["alert"] for rule in alert_rules()}
        assert all(rule["health"] == "ok" for rule in rules), rules
        firing = {rule["name"] for rule in rules if rule["state"] == "firing"}
        assert not firing, f"a healthy producer must not fire alerts: {firing}"

        async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
            exposition = await response.text()
    assert producer.returncode == 0, _tail(producer_log)
    assert server.returncode == 0, _tail(prometheus_log)

    check = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(check.communicate(exposition.encode()), timeout=30)
    assert check.returncode == 0, output.decode()
    assert "mesh_records_total" in exposition
