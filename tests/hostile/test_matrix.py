"""The hostile-source matrix: whatever the platform or its gateway sends, each window lands
every record exactly once, dead-letters named records with a reason, or fails without
advancing the checkpoint. Never: exit 0 with records missing or doubled.

Each case runs the real producer (``run --once``, in this loop or as a process) against
``tests/hostile/source.py`` over two 15-minute windows (17 and 14 conversations, pages of 4),
with a file lake (two cases on moto S3), and reads the lake back (``outcomes.py``) and through
``lake audit`` (the function and the CLI). The misbehaviour hits the second window (index 1);
"once" is transient (the first time it would apply), "always" lasts for the whole run.

=============================  ======  ===================  =====================================
case                           times   expected             why
=============================  ======  ===================  =====================================
honest                         -       LANDS_EXACTLY_ONCE   the baseline
honest on S3                   -       LANDS_EXACTLY_ONCE   the baseline on the S3 backend
honest (process)               -       LANDS_EXACTLY_ONCE   ``run --once`` as a process
repeat_same_page               always  LANDS_EXACTLY_ONCE   a page served twice: repeats dropped
repeat_earlier_page            always  LANDS_EXACTLY_ONCE   page 4 repeats page 2
repeat_first_page_late         always  LANDS_EXACTLY_ONCE   after the last page, the first again
cursor_jumps_back              always  LANDS_EXACTLY_ONCE   a fresh cursor back to page 1
duplicate_id_adjacent          always  LANDS_EXACTLY_ONCE   one id, two contents, side by side
duplicate_id_far               always  LANDS_EXACTLY_ONCE   one id, two contents, pages apart
empty_object_200               once    LANDS_EXACTLY_ONCE   ``{}`` for a promised page: retried
empty_object_200               always  FAILS_WINDOW         ``{}`` is not the end of the results
error_body_200                 once    LANDS_EXACTLY_ONCE   a gateway's JSON error with 200
error_body_200                 always  FAILS_WINDOW         ... that never goes away
html_200                       once    LANDS_EXACTLY_ONCE   an HTML error page with 200
html_200                       always  FAILS_WINDOW
invalid_json                   once    LANDS_EXACTLY_ONCE   a body cut inside the JSON
invalid_json                   always  FAILS_WINDOW
truncated_cut                  once    LANDS_EXACTLY_ONCE   Content-Length longer than sent, cut
truncated_cut                  always  FAILS_WINDOW
cursor_loop                    once    LANDS_EXACTLY_ONCE   the last page points back to page 2
cursor_loop                    always  FAILS_WINDOW
cursor_loop on S3              always  FAILS_WINDOW         nothing committed on S3 either
job_stuck                      always  FAILS_WINDOW         a job PENDING forever: bounded wait
job_unknown_state              once    LANDS_EXACTLY_ONCE   a state the API does not document
job_unknown_state              always  FAILS_WINDOW
huge_record                    always  LANDS_EXACTLY_ONCE   one 10 MB record (ignored field)
records_without_ids_or_times   always  DEAD_LETTERS         rules ``required`` and ``format``
token_echo (process)           once    LANDS_EXACTLY_ONCE   503 echoing Authorization; no token
token_echo (process)           always  FAILS_WINDOW         ... in the logs, ever
=============================  ======  ===================  =====================================

Cases failing on today's code are strict xfails naming the defect (issue 16) that makes them
fail; once a fix is merged its marks go, and a strict xfail that passes is itself a failure.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer import cli
from producer.lake.store import open_store
from producer.windows import align_down
from tests.hostile.outcomes import Expected, Outcome, check_outcome, read_product
from tests.hostile.runner import hostile_env, hostile_settings, run_in_process, run_process
from tests.hostile.source import HostileSource, Kind, Misbehaviour, serve_hostile

_FIRST = align_down(datetime.now(UTC), 900) - timedelta(hours=2)  # two closed windows
_RUN_TIMEOUT_S = 30.0  # a safety net; a stuck run is stopped and fails its case
_STALL_TIMEOUT_S = 25.0  # job_stuck: three attempts of a 2 s bounded wait, 1 + 2 s apart

LANDS = Expected(Outcome.LANDS_EXACTLY_ONCE)
DEAD = Expected(Outcome.DEAD_LETTERS)
FAILS = Expected(Outcome.FAILS_WINDOW, failed_window=1)


@dataclass(frozen=True, slots=True)
class Case:
    kind: Kind
    times: int | None
    expected: Expected
    backend: str = "file"
    process: bool = False
    xfail: str | None = None

    @property
    def name(self) -> str:
        when = "-" if self.kind == "honest" else ("always" if self.times is None else "once")
        where = "-s3" if self.backend == "s3" else ""
        how = "-process" if self.process else ""
        return f"{self.kind}-{when}{where}{how}"


_CASES = [
    Case("honest", None, LANDS),
    Case("honest", None, LANDS, backend="s3"),
    Case("honest", None, LANDS, process=True),
    Case("repeat_same_page", None, LANDS),
    Case("repeat_earlier_page", None, LANDS),
    Case("repeat_first_page_late", None, LANDS),
    Case("cursor_jumps_back", None, LANDS),
    Case("duplicate_id_adjacent", None, LANDS),
    Case("duplicate_id_far", None, LANDS),
    Case("empty_object_200", 1, LANDS),
    Case("empty_object_200", None, FAILS),
    Case("error_body_200", 1, LANDS),
    Case("error_body_200", None, FAILS),
    Case("html_200", 1, LANDS),
    Case("html_200", None, FAILS),
    Case("invalid_json", 1, LANDS),
    Case("invalid_json", None, FAILS),
    Case("truncated_cut", 1, LANDS),
    Case("truncated_cut", None, FAILS),
    Case("cursor_loop", 1, LANDS),
    Case("cursor_loop", None, FAILS),
    Case("cursor_loop", None, FAILS, backend="s3"),
    Case("job_stuck", None, FAILS),
    Case("job_unknown_state", 1, LANDS),
    Case("job_unknown_state", None, FAILS),
    Case("huge_record", None, LANDS),
    Case("records_without_ids_or_times", None, DEAD),
    Case("token_echo", 1, LANDS, process=True),
    Case("token_echo", None, FAILS, process=True),
]


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    if case.process:
        marks.append(pytest.mark.e2e)
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.usefixtures("cli_logging")
@pytest.mark.parametrize("case", [_param(case) for case in _CASES])
async def test_hostile_source(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case's written-down outcome, and never exit 0 with a record missing or doubled."""
    source = HostileSource(
        first_window=_FIRST, windows=2, misbehaviour=Misbehaviour(case.kind, case.times)
    )
    s3_endpoint: str | None = None
    if case.backend == "s3":
        s3_endpoint = request.getfixturevalue("s3_env")
        lake_url = f"s3://{request.getfixturevalue('bucket')}"
    else:
        lake_url = (tmp_path / "lake").as_uri()
    timeout = _STALL_TIMEOUT_S if case.kind == "job_stuck" else _RUN_TIMEOUT_S
    async with AsyncExitStack() as stack:
        served = await stack.enter_async_context(serve_hostile(source))
        settings = hostile_settings(served.base_url, lake_url, _FIRST)
        if case.process:
            env = hostile_env(served.base_url, lake_url, _FIRST, s3_endpoint)
            code, output = await run_process(env, timeout_s=timeout)
        else:
            code, output = await run_in_process(settings, timeout_s=timeout)
        store = await stack.enter_async_context(open_store(settings.lake))
        content, report = await read_product(store)
    monkeypatch.setenv("MESH_LAKE_URL", lake_url)
    audited = await asyncio.to_thread(cli.main, ["lake", "audit", "--domain", "telephony"])
    assert audited == 0, "mesh-producer lake audit found discrepancies"

    if case.kind != "honest":
        assert source.fired, f"{case.kind} never applied: the case proves nothing"
    if case.kind == "token_echo":
        assert source.tokens, "no token was issued"
        leaked = [token for token in source.tokens if token in output]
        assert not leaked, f"a bearer token is in the producer's output: {_around(output, leaked)}"
    truth = []
    for index in range(source.windows):
        start, end = source.window_bounds(index)
        label = f"{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"
        truth.append((label, source.truth(range(index, index + 1))))
    check_outcome(
        case.expected,
        exit_code=code,
        output=output,
        content=content,
        report=report,
        truth_by_window=truth,
        watermark=source.watermark,
        extras=source.extras,
    )


def _around(output: str, leaked: list[str]) -> str:
    at = output.find(leaked[0])
    return output[max(0, at - 200) : at + 60]
