"""The daemon as a real process (``mesh-producer run``): failures it cannot fix are reported.

A broken contract is a configuration error: its domain is not restarted, ``/readyz`` names the
file, the others go on, and the process ends with exit 2 saying the domain failed (at once when
no domain is left). A domain whose every window fails (a permanent 400 from the platform) is not
ready once ``UNREADY_AFTER_FAILURES`` attempts in a row have failed, and ``/readyz`` says why.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.settings import default_contracts_dir
from producer.windows import align_down
from producer.worker import UNREADY_AFTER_FAILURES
from tests.durability.process import Producer, producer_env
from tests.fixtures.runs import free_port
from tests.fixtures.simulator import OTHER_CLIENT, TELEPHONY_CLIENT, telephony_config

_START = align_down(datetime.now(UTC) - timedelta(hours=1), 900)


def _broken_contracts(tmp_path: Path) -> Path:
    """The shipped contracts with telephony's 1.0 cut short (not JSON)."""
    folder = tmp_path / "contracts"
    shutil.copytree(default_contracts_dir(), folder)
    (folder / "telephony" / "1.0.json").write_text('{"title": "telephony 1.0", ')
    return folder


def _env(
    simulator: RunningSimulator, tmp_path: Path, port: int, **overrides: str
) -> dict[str, str]:
    variables = {"MESH_HTTP_PORT": str(port), "MESH_REQUEST_RETRY_SECONDS": "5", **overrides}
    return producer_env(
        api_url=simulator.base_url,
        lake_url=(tmp_path / "lake").as_uri(),
        start=_START,
        **variables,
    )


async def _readyz(port: int) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/readyz") as response,
    ):
        return response.status, orjson.loads(await response.read())


async def _until_readyz(
    port: int, producer: Producer, holds: Callable[[int, dict[str, Any]], bool]
) -> tuple[int, dict[str, Any]]:
    """Poll /readyz until ``holds(status, body)``; fails if the process ends first."""
    found: list[tuple[int, dict[str, Any]]] = []

    async def probe() -> bool:
        assert producer.process.returncode is None, producer.output[-3000:]
        try:
            found.append(await _readyz(port))
        except aiohttp.ClientConnectionError:
            return False
        return holds(*found[-1])

    async with asyncio.timeout(60):
        while not await probe():  # noqa: ASYNC110 (the state is in another process)
            await asyncio.sleep(0.1)
    return found[-1]


async def test_broken_contract_fails_its_domain_for_good_and_the_exit_code_says_so(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Telephony's contract is broken, Quality's is fine: telephony is failed on /readyz with
    the file named (not a token problem), never restarted; Quality runs; SIGTERM ends with 2."""
    port = free_port()
    env = _env(
        simulator,
        tmp_path,
        port,
        MESH_DOMAINS="telephony,quality",
        MESH_CONTRACTS_DIR=str(_broken_contracts(tmp_path)),
        MESH_QUALITY__CLIENT_ID=OTHER_CLIENT[0],
        MESH_QUALITY__CLIENT_SECRET=OTHER_CLIENT[1],
        MESH_QUALITY__SETTLE_SECONDS="0",
    )
    async with await Producer.start(env, once=False) as producer:
        status, body = await _until_readyz(
            port, producer, lambda _, body: "quality" not in body.get("not_ready", {"quality": 1})
        )
        assert status == 503
        reason = body["not_ready"]["telephony"]
        assert "1.0.json" in reason, reason
        assert "token" not in reason, reason
        await producer.wait_for_event("window_landed")  # quality goes on
        failures = [e for e in producer.named("domain_failed") if e.get("domain") == "telephony"]
        assert len(failures) == 1, failures  # not restarted
        assert failures[0]["restart_in_s"] is None
        producer.terminate()
        code = await producer.wait()
    assert code == 2, producer.output[-3000:]
    stopped = producer.named("daemon_stopped")[-1]["domains"]
    assert stopped["quality"] == "ok"
    assert stopped["telephony"].startswith("failed: "), stopped
    assert "domain telephony failed" in producer.output


async def test_broken_contract_of_the_only_domain_exits_2_at_once(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """Nothing is left to run: the daemon exits 2 by itself with one line naming the file."""
    env = _env(
        simulator,
        tmp_path,
        free_port(),
        MESH_CONTRACTS_DIR=str(_broken_contracts(tmp_path)),
    )
    async with await Producer.start(env, once=False) as producer:
        code = await producer.exited_within(60)
        assert code == 2, producer.output[-3000:]
        await producer.wait()
    lines = [line for line in producer.lines if line.startswith("mesh-producer: ")]
    assert len(lines) == 1, producer.output[-3000:]
    assert "telephony" in lines[0]
    assert "1.0.json" in lines[0]


async def test_readyz_names_a_domain_whose_windows_keep_failing(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """A permanent 400 on every results page: /readyz is 503 naming telephony and the
    platform's error from the first failed window (retrying cannot fix a 400); it was ready
    before."""
    simulator.sim.fail_next(100_000, 400, path_contains="/results")
    port = free_port()
    env = _env(simulator, tmp_path, port)
    async with await Producer.start(env, once=False) as producer:
        await _until_readyz(port, producer, lambda status, _: status == 200)
        await producer.wait_for_event("window_failed", count=1)
        status, body = await _until_readyz(
            port, producer, lambda _, body: "telephony" in body.get("not_ready", {})
        )
        assert status == 503
        reason = body["not_ready"]["telephony"]
        assert reason.startswith("PermanentSourceError: "), reason
        assert "400 bad.request" in reason, reason


async def test_readyz_names_a_domain_after_transient_failures_in_a_row(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """A 503 on every results page (retried, then the window fails): /readyz stays ready for
    a blip, and names telephony once ``UNREADY_AFTER_FAILURES`` attempts failed in a row."""
    simulator.sim.fail_next(100_000, 503, path_contains="/results")
    port = free_port()
    env = _env(simulator, tmp_path, port, MESH_REQUEST_RETRY_SECONDS="1")
    async with await Producer.start(env, once=False) as producer:
        await _until_readyz(port, producer, lambda status, _: status == 200)
        await producer.wait_for_event("window_failed", count=UNREADY_AFTER_FAILURES)
        status, body = await _until_readyz(
            port, producer, lambda _, body: "telephony" in body.get("not_ready", {})
        )
        assert status == 503
        reason = body["not_ready"]["telephony"]
        assert f"{UNREADY_AFTER_FAILURES} window attempts failed in a row" in reason, reason
        assert "TransientSourceError" in reason, reason


@pytest.mark.parametrize(
    "simulator_config",
    [
        telephony_config(
            lambda: datetime.now(UTC),
            client_permissions={TELEPHONY_CLIENT[0]: frozenset({"quality:evaluation:view"})},
        )
    ],
)
async def test_readyz_names_the_permission_a_403_says_is_missing(
    simulator: RunningSimulator, simulator_config: SimulatorConfig, tmp_path: Path
) -> None:
    """The Telephony client's role lacks the analytics permission (a 403 from the platform):
    /readyz is 503 and names the permission to grant, not just the status code."""
    assert (
        "analytics:conversationDetail:view"
        not in simulator_config.client_permissions[TELEPHONY_CLIENT[0]]
    )
    port = free_port()
    env = _env(simulator, tmp_path, port)
    async with await Producer.start(env, once=False) as producer:
        status, body = await _until_readyz(
            port, producer, lambda _, body: "403" in body.get("not_ready", {}).get("telephony", "")
        )
        assert status == 503
        reason = body["not_ready"]["telephony"]
        assert "the platform refused GET /api/v2/analytics/" in reason, reason
        assert reason.endswith("the OAuth client's role needs analytics:conversationDetail:view"), (
            reason
        )
