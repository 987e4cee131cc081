"""``mesh-producer backfill`` as a person runs it: a real process against the simulator and a
file:// lake, after ``run --once`` landed 27 hours.

The backfilled windows are older than the checkpoint's re-export ledger (the last 24 hours before
the watermark), so their earlier counts must be read back from the lake: were they not, the
totals would count them twice, the dead letters would get a new rejection time and every object
would be rewritten. The source is changed by reseeding the simulator (its traffic is drawn from
the seed), which alters every window's conversations: only the backfilled one may change.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from producer.cli import main
from producer.lake.encode import decode_part
from producer.lake.store import open_store
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.settings import LakeLocation
from producer.windows import align_down
from tests.fixtures.process import process_env
from tests.fixtures.product import audit
from tests.fixtures.runs import run_once, telephony_domain, telephony_settings
from tests.fixtures.simulator import TELEPHONY_CLIENT, conversation_ids, telephony_config

_T0 = align_down(datetime.now(UTC), 3600)
_START = _T0 - timedelta(hours=27)
_PREFIX = "telephony-cdr-export"
_CHECKPOINT = f"{_PREFIX}/_state/checkpoint.json"


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    """The telephony client on a frozen clock, everything available up to it, light traffic."""
    return telephony_config(lambda: _T0, conversations_per_hour=40.0, availability_lag_seconds=0.0)


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _snapshot(lake: Path) -> dict[str, bytes]:
    """Every object but the writer lease (taken and released by each run)."""
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in sorted(lake.rglob("*"))
        if p.is_file() and "/_state/lease" not in str(p)
    }


def _lines(objects: Mapping[str, bytes], folder: str) -> list[dict[str, object]]:
    return [
        orjson.loads(line)
        for key, data in objects.items()
        if folder in key and key.endswith(".ndjson.gz")
        for line in decode_part(data, "gzip")
    ]


async def _backfill(env: Mapping[str, str], start: datetime, end: datetime) -> tuple[int, str]:
    """``python -m producer backfill --domain telephony``: exit code, stdout, stderr folded."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "producer",
        "backfill",
        "--domain",
        "telephony",
        "--from",
        _iso(start),
        "--to",
        _iso(end),
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


async def _status(env: Mapping[str, str]) -> dict[str, object]:
    """``python -m producer status --domain telephony --json``: the domain's state."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "producer",
        "status",
        "--domain",
        "telephony",
        "--json",
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode in (0, 1), err.decode()
    states = orjson.loads(out)
    assert isinstance(states, list), out
    (state,) = states
    assert isinstance(state, dict), out
    return state


def _assert_totals_are_the_lake(objects: Mapping[str, bytes]) -> None:
    """The checkpoint's totals are the lines the lake holds (no window counted twice)."""
    totals = orjson.loads(objects[_CHECKPOINT])["totals"]
    data, dead = len(_lines(objects, "/v1/")), len(_lines(objects, "/failed-records/"))
    assert totals == {"fetched": data + dead, "landed": data, "dead_lettered": dead}


def _said(output: str) -> list[str]:
    """The lines the command wrote for a person (not its JSON log lines)."""
    return [line for line in output.splitlines() if line.startswith("mesh-producer:")]


def _progress(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("telephony ")]


async def test_backfill_rewrites_only_what_changed_and_keeps_the_totals(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    await run_once(
        telephony_settings(simulator.base_url, lake.as_uri(), start_at=_START, window_seconds=3600)
    )
    landed = _snapshot(lake)
    checkpoint = orjson.loads(landed[_CHECKPOINT])
    assert datetime.fromisoformat(checkpoint["watermark"]) == _T0
    last_landed_at = _iso(datetime.fromisoformat(checkpoint["updated_at"]))
    env = process_env(
        api_url=simulator.base_url,
        lake_url=lake.as_uri(),
        start=_START,
        MESH_DOMAINS="telephony",
        MESH_TELEPHONY__CLIENT_ID=TELEPHONY_CLIENT[0],
        MESH_TELEPHONY__CLIENT_SECRET=TELEPHONY_CLIENT[1],
        MESH_TELEPHONY__JOB_POLL_SECONDS="0.01",
        MESH_WINDOW_SECONDS="3600",
    )
    start, end = _START + timedelta(hours=1), _START + timedelta(hours=3)
    ledger = checkpoint["recent_windows"]
    assert ledger, "the scenario needs a ledger the backfilled windows are older than"
    assert not any(label < end.strftime("%Y%m%dT%H%M%SZ") for label in ledger), sorted(ledger)
    assert _lines(landed, "/failed-records/"), "the scenario needs dead letters to keep"

    # (a) nothing changed upstream: nothing is rewritten, the checkpoint included
    code, output = await _backfill(env, start, end)
    assert code == 0, output
    _assert_totals_are_the_lake(_snapshot(lake))
    progress = _progress(output)
    assert len(progress) == 2, output
    assert all(line.endswith(", unchanged") and " = " in line for line in progress), progress
    assert _snapshot(lake) == landed, "an unchanged backfill rewrote something"

    # windows the ledger keeps (the last 24 hours): unchanged, nothing rewritten either
    code, output = await _backfill(env, _T0 - timedelta(hours=2), _T0)
    assert code == 0, output
    assert [line.rsplit(", ", 1)[1] for line in _progress(output)] == ["unchanged"] * 2, output
    assert _snapshot(lake) == landed

    # (b) the source changed: the backfilled window alone is rewritten, its records once
    simulator.sim.config.seed = 8
    changed = (start, start + timedelta(hours=1))
    code, output = await _backfill(env, *changed)
    assert code == 0, output
    assert _progress(output)[0].endswith(", changed"), output
    after = _snapshot(lake)
    window_key = f"telephony-{changed[0].strftime('%Y%m%dT%H%M%SZ')}"
    rewritten = {k for k in after.keys() | landed.keys() if after.get(k) != landed.get(k)}
    assert rewritten, "the changed window was not rewritten"
    assert all(window_key in key or key == _CHECKPOINT for key in rewritten), rewritten
    truth = conversation_ids(simulator.sim, *changed)
    window_objects = {k: v for k, v in after.items() if window_key in k}
    ids = [line["data"]["interaction_id"] for line in _lines(window_objects, "/v1/")]  # type: ignore[index]
    ids += [line["source"]["conversationId"] for line in _lines(window_objects, "/failed-records/")]  # type: ignore[index]
    assert sorted(ids) == sorted(truth)
    checkpoint = orjson.loads(after[_CHECKPOINT])
    assert datetime.fromisoformat(checkpoint["watermark"]) == _T0, "the watermark moved"
    _assert_totals_are_the_lake(after)
    async with open_store(LakeLocation.parse(lake.as_uri())) as store:
        report = await audit(store, _PREFIX)
    assert report.consistent, report.discrepancies
    state = await _status(env)
    assert (state["last_window"], state["last_landed_at"]) == (
        f"{(_T0 - timedelta(hours=1)).strftime('%Y%m%dT%H%M%SZ')}-{_T0.strftime('%Y%m%dT%H%M%SZ')}",
        last_landed_at,
    ), "status must show the window ending at the watermark, not the one backfilled"

    # (c) the same backfill again: the source did not change, nothing is rewritten
    code, output = await _backfill(env, *changed)
    assert code == 0, output
    assert _progress(output)[0].endswith(", unchanged"), output
    assert _snapshot(lake) == after


async def test_backfill_refuses_a_domain_not_landed_and_a_range_past_the_watermark(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    env = process_env(
        api_url=simulator.base_url,
        lake_url=lake.as_uri(),
        start=_START,
        MESH_DOMAINS="telephony",
        MESH_TELEPHONY__CLIENT_ID=TELEPHONY_CLIENT[0],
        MESH_TELEPHONY__CLIENT_SECRET=TELEPHONY_CLIENT[1],
        MESH_WINDOW_SECONDS="3600",
    )
    code, output = await _backfill(env, _START, _START + timedelta(hours=1))
    assert (code, len(_said(output))) == (2, 1), output
    assert "no checkpoint" in output
    await run_once(
        telephony_settings(
            simulator.base_url,
            lake.as_uri(),
            start_at=_T0 - timedelta(hours=3),
            window_seconds=3600,
            telephony=telephony_domain(),
        )
    )
    landed = _snapshot(lake)
    code, output = await _backfill(env, _T0 - timedelta(hours=1), _T0 + timedelta(hours=1))
    assert (code, len(_said(output))) == (2, 1), output
    assert all(word in output for word in ["beyond", "watermark", _iso(_T0)]), output
    assert _snapshot(lake) == landed


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (
            _T0 - timedelta(hours=2, minutes=30),
            _T0,
            ["--from", _iso(_T0 - timedelta(hours=3)), _iso(_T0 - timedelta(hours=2))],
        ),
        (
            _T0 - timedelta(hours=2),
            _T0 - timedelta(minutes=30),
            ["--to", _iso(_T0 - timedelta(hours=1)), _iso(_T0)],
        ),
        (_T0 - timedelta(hours=1), _T0 - timedelta(hours=1), ["--to", "after --from"]),
        (_T0 - timedelta(hours=1), _T0 - timedelta(hours=2), ["--to", "after --from"]),
    ],
)
@pytest.mark.usefixtures("cli_logging")
def test_backfill_refuses_a_range_off_the_windows(
    start: datetime,
    end: datetime,
    words: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Refused from the arguments alone (nothing is contacted): exit 2 and one line."""
    for name in [name for name in os.environ if name.startswith("MESH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MESH_DOMAINS", "telephony")
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_ID", TELEPHONY_CLIENT[0])
    monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", TELEPHONY_CLIENT[1])
    monkeypatch.setenv("MESH_WINDOW_SECONDS", "3600")
    args = ["backfill", "--domain", "telephony", "--from", _iso(start), "--to", _iso(end)]
    assert main(args) == 2
    said = capsys.readouterr()
    assert said.out == ""
    assert len(said.err.splitlines()) == 1, said.err
    assert all(word in said.err for word in words), (words, said.err)


@pytest.mark.parametrize(
    ("domain", "words"), [("wfm", ["wfm", "snapshot"]), ("quality", ["quality", "MESH_DOMAINS"])]
)
@pytest.mark.usefixtures("cli_logging")
def test_backfill_refuses_wfm_and_a_domain_not_enabled(
    domain: str,
    words: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """WFM's weekly snapshots are re-exported by ``run``; a domain must be enabled: exit 2."""
    for name in [name for name in os.environ if name.startswith("MESH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MESH_DOMAINS", "telephony,wfm")
    for prefix in ("MESH_TELEPHONY__", "MESH_WFM__"):
        monkeypatch.setenv(f"{prefix}CLIENT_ID", TELEPHONY_CLIENT[0])
        monkeypatch.setenv(f"{prefix}CLIENT_SECRET", TELEPHONY_CLIENT[1])
    monkeypatch.setenv("MESH_LAKE_URL", "file:///nonexistent-lake")
    start = _T0 - timedelta(days=7 + _T0.weekday(), hours=_T0.hour)
    args = [
        "backfill",
        "--domain",
        domain,
        "--from",
        _iso(start),
        "--to",
        _iso(start + timedelta(days=7)),
    ]
    assert main(args) == 2
    said = capsys.readouterr()
    assert len(said.err.splitlines()) == 1, said.err
    assert all(word in said.err for word in words), (words, said.err)
