"""Pages the source answers: a 200 that is not the endpoint's documented answer is not data.

A gateway or a broken upstream answers 200 with ``{}``, its own JSON error, an HTML page, text,
a cut body or items that are not objects. Each extractor must take such an answer for what it
is, a transient source error: the same request (same cursor, same page) is sent again with
backoff, and if the source keeps answering that way the window fails without moving the
checkpoint. Never: the answer read as "no more results", with the window committed short.

The daemon runs ``--once`` in the test's loop against the simulator, whose ``bad_page_next``
switch spoils the Nth matching request (``after``) once, or from then on (``_ALWAYS``).
Expected outcomes, per extractor (Telephony results pages, Quality search pages, WFM search
answers and downloads):

- spoiled once: the window lands every record exactly once and no window failed (the request
  was retried, not the window);
- spoiled always: the run fails naming the domain (exit code 1), the bad answers were retried
  (``mesh_api_retries_total{reason="bad_shape"|"bad_body"|"connection"}``), and the checkpoint
  does not move (nothing of the window is committed).
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
from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig, serve
from producer.platforms.genesys.simulator.faults import BadPage
from producer.settings import QualitySettings, Settings, WfmSettings
from producer.windows import align_down, week_start
from tests.durability.audit import assert_exactly_once, audit_lake, read_file_lake
from tests.fixtures.lake import assert_each_once, lake_lines
from tests.fixtures.process import process_env, run_once_process
from tests.fixtures.runs import telephony_domain, telephony_settings
from tests.fixtures.simulator import TELEPHONY_CLIENT, conversation_ids, telephony_config

_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)
_WATERMARK = align_down(_NOW - timedelta(minutes=15), 900)
_ALWAYS = 10_000  # "from then on": more requests than any run here makes
_RESULTS = "/results"
_SEARCH = "/api/v2/quality/evaluations/search"
_WFM_SEARCH = "/agentschedules/search"
_DOWNLOAD = "/download/agentschedules"
_RETRY_REASONS = ("bad_shape", "bad_body", "connection")
_PREFIX = {
    "telephony": "telephony-cdr-export",
    "quality": "qms-scores-export",
    "wfm": "wfm-schedules-export",
}


class Clock:
    """The simulator's frozen ``now``, moved by the test between runs."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _settings(running: RunningSimulator, lake: Path, domain: str, **extra: Any) -> Settings:
    """``domain`` alone on the simulator, small pages, no re-sweep, a short retry budget."""
    client = {"client_id": TELEPHONY_CLIENT[0], "client_secret": SecretStr(TELEPHONY_CLIENT[1])}
    fast = {"rate_limit_per_minute": 60_000, "page_size": 5, "resweep_hours": 0}
    values: dict[str, Any] = {
        "domains": (domain,),
        "request_retry_seconds": 2.0,
        "telephony": telephony_domain(job_poll_seconds=0.01, part_max_records=10, **fast),
        "quality": QualitySettings(**client, **fast, settle_seconds=0),
        "wfm": WfmSettings(**client, rate_limit_per_minute=60_000, horizon_weeks=0),
    }
    return telephony_settings(running.base_url, lake.as_uri(), **(values | extra))


async def _run(settings: Settings, registry: CollectorRegistry) -> daemon.RunResult:
    return await daemon.run(settings, once=True, registry=registry, install_signal_handlers=False)


def _sample(registry: CollectorRegistry, domain: str, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, {"domain": domain, **labels}) or 0.0


def _failed_windows(registry: CollectorRegistry, domain: str) -> float:
    return _sample(registry, domain, "mesh_windows_total", outcome="failed")


def _retries(registry: CollectorRegistry, domain: str) -> float:
    return sum(
        _sample(registry, domain, "mesh_api_retries_total", reason=reason)
        for reason in _RETRY_REASONS
    )


def _assert_failed_unmoved(
    result: daemon.RunResult, registry: CollectorRegistry, domain: str, lake: Path
) -> None:
    """The run failed naming ``domain``, after retries, and committed nothing of the window."""
    assert not result.ok
    assert result.exit_code == 1
    assert result.reports[domain].error, result.reports
    assert _retries(registry, domain) >= 1, "the bad answers were not retried"
    objects, _ = read_file_lake(lake)
    prefix = _PREFIX[domain]
    assert f"{prefix}/_state/checkpoint.json" not in objects
    assert not [k for k in objects if k.startswith(prefix) and k.endswith(".ndjson.gz")]


# -- Telephony: the results pages of an analytics job -----------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock(_NOW)


@pytest.fixture
def simulator_config(clock: Clock) -> SimulatorConfig:
    """Telephony, ~60 conversations a window; quality and WFM data on the same frozen clock."""
    return telephony_config(
        clock,
        conversations_per_hour=240.0,
        rate_limit_per_minute=0,
        evaluations_per_hour=120.0,
        evaluation_index_lag_seconds=0.0,
    )


_ONCE_KINDS: list[BadPage] = [
    "empty",
    "error_body",
    "malformed",
    "not_json",
    "not_objects",
    "truncate",
    "cut",
]


@pytest.mark.parametrize("kind", _ONCE_KINDS)
async def test_telephony_page_spoiled_once_is_fetched_again(
    simulator: RunningSimulator, tmp_path: Path, kind: BadPage
) -> None:
    """The third results page answers badly once: its cursor is asked again, nothing is lost."""
    lake = tmp_path / "lake"
    start = _WATERMARK - timedelta(minutes=15)
    simulator.sim.bad_page_next(1, kind, path_contains=_RESULTS, after=2)
    registry = CollectorRegistry()

    result = await _run(_settings(simulator, lake, "telephony", start_at=start), registry)

    assert result.ok, result.reports
    assert simulator.sim.faults.pending() == 0, "the fault never fired: too few pages"
    assert _failed_windows(registry, "telephony") == 0, "the window failed instead of a retry"
    objects, _ = read_file_lake(lake)
    audit = audit_lake(objects)
    assert audit.watermark == _WATERMARK
    truth = conversation_ids(simulator.sim, start, _WATERMARK)
    assert len(truth) > 20
    assert_exactly_once(audit, truth, context=kind)
    # The spoiled page was asked for again with the same cursor.
    pages = [r.query for r in simulator.sim.requests if r.path.endswith(_RESULTS)]
    assert len(pages) == len(set(pages)) + 1, pages


@pytest.mark.parametrize("kind", ["empty", "error_body"])
async def test_telephony_page_spoiled_always_fails_the_window(
    simulator: RunningSimulator, clock: Clock, tmp_path: Path, kind: BadPage
) -> None:
    """From the third page on every answer is bad: the run fails, the checkpoint stays put."""
    lake = tmp_path / "lake"
    start = _WATERMARK - timedelta(minutes=15)
    first = await _run(_settings(simulator, lake, "telephony", start_at=start), CollectorRegistry())
    assert first.ok, first.reports
    checkpoint = lake / _PREFIX["telephony"] / "_state" / "checkpoint.json"
    before = orjson.loads(checkpoint.read_bytes())
    assert before["watermark"].startswith(_WATERMARK.strftime("%Y-%m-%dT%H:%M:%S"))
    clock.now = _NOW + timedelta(minutes=15)  # one more window is available
    simulator.sim.bad_page_next(_ALWAYS, kind, path_contains=_RESULTS, after=2)
    registry = CollectorRegistry()
    settings = _settings(simulator, lake, "telephony", start_at=start, request_retry_seconds=0.6)

    result = await _run(settings, registry)

    assert not result.ok
    assert result.exit_code == 1
    assert result.reports["telephony"].error
    assert _retries(registry, "telephony") >= 1, "the bad pages were not retried"
    assert _failed_windows(registry, "telephony") >= 1
    assert orjson.loads(checkpoint.read_bytes()) == before, "the checkpoint moved"


@pytest.mark.e2e
async def test_run_once_names_the_domain_and_exits_1(tmp_path: Path) -> None:
    """The command: a source that keeps answering ``{}`` ends ``run --once`` with exit code 1
    and one line naming the domain; nothing is committed."""
    async with serve(telephony_config(lambda: _NOW, rate_limit_per_minute=0)) as running:
        running.sim.bad_page_next(_ALWAYS, "empty", path_contains=_RESULTS, after=1)
        env = process_env(
            api_url=running.base_url,
            lake_url=(tmp_path / "lake").as_uri(),
            start=_WATERMARK - timedelta(minutes=15),
            MESH_DOMAINS="telephony",
            MESH_TELEPHONY__CLIENT_ID=TELEPHONY_CLIENT[0],
            MESH_TELEPHONY__CLIENT_SECRET=TELEPHONY_CLIENT[1],
            MESH_TELEPHONY__JOB_POLL_SECONDS="0.01",
            MESH_TELEPHONY__PAGE_SIZE="5",
            MESH_REQUEST_RETRY_SECONDS="0.6",
        )
        code, output = await run_once_process(env, timeout_s=60)
    assert code == 1, output
    failed = [line for line in output.splitlines() if line.startswith("mesh-producer:")]
    assert len(failed) == 1, output
    assert "domain telephony failed" in failed[0], output
    objects, _ = read_file_lake(tmp_path / "lake")
    assert not [k for k in objects if k.endswith(".ndjson.gz") or "checkpoint" in k], objects


# -- Quality: the evaluation search pages -----------------------------------------------------


def _quality_ids(objects: dict[str, bytes], *, dlq: bool) -> list[str]:
    prefix = _PREFIX["quality"]
    lines = lake_lines(
        objects, lambda key: key.startswith(f"{prefix}/") and ("/failed-records/" in key) == dlq
    )
    return [line["source"]["id"] if dlq else line["data"]["evaluation_id"] for line in lines]


def _quality_truth(
    running: RunningSimulator, objects: dict[str, bytes], start: datetime
) -> set[str]:
    checkpoint = orjson.loads(objects[f"{_PREFIX['quality']}/_state/checkpoint.json"])
    end = datetime.fromisoformat(checkpoint["watermark"])
    return {
        e["id"]
        for e in running.sim.evaluations(start, end)
        if start <= datetime.fromisoformat(e["changedDate"]) < end
    }


@pytest.mark.parametrize("kind", ["empty", "error_body", "not_objects"])
async def test_quality_page_spoiled_once_is_fetched_again(
    simulator: RunningSimulator, tmp_path: Path, kind: BadPage
) -> None:
    """The first search page answers badly once: it is asked again, nothing is lost."""
    lake = tmp_path / "lake"
    start = _WATERMARK - timedelta(minutes=15)
    simulator.sim.bad_page_next(1, kind, path_contains=_SEARCH)
    registry = CollectorRegistry()

    result = await _run(_settings(simulator, lake, "quality", start_at=start), registry)

    assert result.ok, result.reports
    assert simulator.sim.faults.pending() == 0
    assert _failed_windows(registry, "quality") == 0, "the window failed instead of a retry"
    objects, _ = read_file_lake(lake)
    truth = _quality_truth(simulator, objects, start)
    assert len(truth) > 5
    landed = _quality_ids(objects, dlq=False)
    assert landed
    assert_each_once(landed, _quality_ids(objects, dlq=True), truth, context=kind)


@pytest.mark.parametrize("kind", ["empty", "error_body"])
async def test_quality_page_spoiled_always_fails_the_window(
    simulator: RunningSimulator, tmp_path: Path, kind: BadPage
) -> None:
    """From the second search page on every answer is bad: the run fails, nothing commits."""
    lake = tmp_path / "lake"
    start = _WATERMARK - timedelta(minutes=15)
    simulator.sim.bad_page_next(_ALWAYS, kind, path_contains=_SEARCH, after=1)
    registry = CollectorRegistry()
    settings = _settings(simulator, lake, "quality", start_at=start, request_retry_seconds=0.6)

    result = await _run(settings, registry)

    _assert_failed_unmoved(result, registry, "quality", lake)


# -- WFM: the agent-schedule search answer, inline or as a download ---------------------------


def _wfm_config(shape: str) -> SimulatorConfig:
    return telephony_config(
        lambda: datetime.now(UTC), rate_limit_per_minute=0, wfm_search_shape=shape
    )


def _wfm_ids(objects: dict[str, bytes], *, dlq: bool) -> list[str]:
    prefix = _PREFIX["wfm"]
    lines = lake_lines(
        objects, lambda key: key.startswith(f"{prefix}/") and ("/failed-records/" in key) == dlq
    )
    if dlq:
        return [
            f"{s['businessUnitId']}/{s['userId']}/{s['shift']['id']}"
            for s in (line["source"] for line in lines)
        ]
    return [
        f"{d['business_unit_id']}/{d['agent_id']}/{d['shift_id']}"
        for d in (line["data"] for line in lines)
    ]


def _wfm_truth(running: RunningSimulator, first: datetime) -> set[str]:
    last = first + timedelta(weeks=1)
    return {
        f"{s['businessUnitId']}/{s['userId']}/{s['shift']['id']}"
        for s in running.sim.shifts(first, last)
        if first <= datetime.fromisoformat(s["shift"]["startDate"]) < last
    }


_WFM_ONCE = [
    ("inline", _WFM_SEARCH, "empty"),
    ("inline", _WFM_SEARCH, "error_body"),
    ("download", _DOWNLOAD, "empty"),
    ("download", _DOWNLOAD, "error_body"),
    ("download", _DOWNLOAD, "not_json"),
]


@pytest.mark.parametrize(("shape", "path", "kind"), _WFM_ONCE)
async def test_wfm_answer_spoiled_once_is_fetched_again(
    tmp_path: Path, shape: str, path: str, kind: BadPage
) -> None:
    """The second unit's answer is bad once: it is asked again, every shift lands once."""
    lake = tmp_path / "lake"
    first = week_start(datetime.now(UTC))
    async with serve(_wfm_config(shape)) as running:
        running.sim.bad_page_next(1, kind, path_contains=path, after=1)
        registry = CollectorRegistry()
        result = await _run(_settings(running, lake, "wfm", start_at=first), registry)
        truth = _wfm_truth(running, first)
        assert running.sim.faults.pending() == 0
    assert result.ok, result.reports
    assert _failed_windows(registry, "wfm") == 0, "the window failed instead of a retry"
    objects, _ = read_file_lake(lake)
    landed = _wfm_ids(objects, dlq=False)
    assert landed
    assert_each_once(landed, _wfm_ids(objects, dlq=True), truth, context=f"{shape} {kind}")


@pytest.mark.parametrize(("shape", "path"), [("inline", _WFM_SEARCH), ("download", _DOWNLOAD)])
async def test_wfm_answer_spoiled_always_fails_the_window(
    tmp_path: Path, shape: str, path: str
) -> None:
    """Every answer is a gateway's error body: the run fails, nothing commits."""
    lake = tmp_path / "lake"
    first = week_start(datetime.now(UTC))
    async with serve(_wfm_config(shape)) as running:
        running.sim.bad_page_next(_ALWAYS, "error_body", path_contains=path)
        registry = CollectorRegistry()
        settings = _settings(running, lake, "wfm", start_at=first, request_retry_seconds=0.6)
        result = await _run(settings, registry)
    _assert_failed_unmoved(result, registry, "wfm", lake)
