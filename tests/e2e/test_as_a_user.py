"""What a person reads: the CLI run as a subprocess, its exit code and its words.

Each bad setting gives exit 2 and one line that names the variable and says what is expected; a
failed domain is named once; the guide's own contract file is accepted as it is.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from producer.platforms.genesys.simulator import RunningSimulator, SimulatorConfig
from producer.windows import align_down
from tests.fixtures.process import clean_env, process_env, run_once_process
from tests.fixtures.simulator import TELEPHONY_CLIENT, telephony_config
from tests.fixtures.smtp import Relay, smtp_relay

pytestmark = pytest.mark.e2e

_GUIDE = Path(__file__).resolve().parents[1] / "data" / "guide" / "telephony-1.0.json"


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _env(**variables: str) -> dict[str, str]:
    env = clean_env()
    env.update(
        {
            "MESH_DOMAINS": "telephony",
            "MESH_TELEPHONY__CLIENT_ID": "client",
            "MESH_TELEPHONY__CLIENT_SECRET": "secret",
            "MESH_HTTP_PORT": "0",
            "MESH_HTTP_HOST": "127.0.0.1",
        }
    )
    env.update(variables)
    return env


@pytest.mark.parametrize(
    ("variables", "line"),
    [
        (
            {"MESH_DOMAINS": "telephony,bogus"},
            "mesh-producer: MESH_DOMAINS: 'bogus' is not a domain; valid: telephony, quality, wfm",
        ),
        (
            {"MESH_START_AT": "yesterday"},
            "mesh-producer: MESH_START_AT: 'yesterday' is not an ISO 8601 time; expected e.g. "
            "2026-12-01T00:00:00Z or 2026-12-01",
        ),
    ],
)
def test_a_bad_variable_is_one_line_naming_it(
    tmp_path: Path, variables: dict[str, str], line: str
) -> None:
    result = _cli("run", "--once", env=_env(**variables), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [line]


def test_a_missing_secret_file_names_its_variable_exactly(tmp_path: Path) -> None:
    env = _env(MESH_TELEPHONY__CLIENT_SECRET_FILE=str(tmp_path / "gone"))
    del env["MESH_TELEPHONY__CLIENT_SECRET"]
    result = _cli("run", "--once", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"mesh-producer: MESH_TELEPHONY__CLIENT_SECRET_FILE: '{tmp_path / 'gone'}' "
        "is not a readable file"
    ]


def test_a_failed_domain_is_named_once(tmp_path: Path) -> None:
    """No platform answers on this port: the domain fails, and says so in one line."""
    env = _env(
        MESH_GENESYS_API_URL="http://127.0.0.1:9",
        MESH_GENESYS_LOGIN_URL="http://127.0.0.1:9",
        MESH_LAKE_URL=f"file://{tmp_path / 'lake'}",
        MESH_REQUEST_RETRY_SECONDS="1",
        MESH_LOG_LEVEL="ERROR",
    )
    result = _cli("run", "--once", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    said = [line for line in result.stderr.splitlines() if line.startswith("mesh-producer:")]
    failed = [line for line in said if "failed" in line]
    assert len(failed) == 1, result.stderr
    assert failed[0].startswith("mesh-producer: domain telephony failed: ")
    assert failed[0].count("telephony") == 1, failed[0]


def test_the_guides_contract_file_is_accepted_as_it_is(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts" / "telephony"
    contracts.mkdir(parents=True)
    shutil.copyfile(_GUIDE, contracts / "1.0.json")
    env = clean_env()
    result = _cli("contracts", "check", "--dir", str(tmp_path / "contracts"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


_NOW = align_down(datetime.now(UTC), 900) + timedelta(minutes=7)


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return telephony_config(lambda: _NOW, conversations_per_hour=400.0, rate_limit_per_minute=3000)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    yield from smtp_relay(tmp_path)


async def test_the_dead_letter_email_reaches_the_team(
    simulator: RunningSimulator, relay: Relay, tmp_path: Path
) -> None:
    """`run --once` with the simulator's rejections above 5 %: the team's relay gets the email."""
    password = tmp_path / "smtp-password"
    password.write_text(relay.password, encoding="utf-8")
    env = process_env(
        api_url=simulator.base_url,
        lake_url=f"file://{tmp_path / 'lake'}",
        start=_NOW - timedelta(hours=1, minutes=7),
        MESH_DOMAINS="telephony",
        MESH_TELEPHONY__CLIENT_ID=TELEPHONY_CLIENT[0],
        MESH_TELEPHONY__CLIENT_SECRET=TELEPHONY_CLIENT[1],
        MESH_TELEPHONY__JOB_POLL_SECONDS="0.05",
        MESH_TELEPHONY__ALERT_EMAIL_TO="telephony-team@example.com",
        MESH_ALERT_MIN_RECORDS="10",
        MESH_ALERT_SMTP_HOST=relay.host,
        MESH_ALERT_SMTP_PORT=str(relay.port),
        MESH_ALERT_SMTP_USERNAME=relay.user,
        MESH_ALERT_SMTP_PASSWORD_FILE=str(password),
        MESH_ALERT_SMTP_CA_FILE=str(relay.ca_file),
        MESH_ALERT_EMAIL_FROM="mesh-producer@example.com",
    )
    code, output = await run_once_process(env, timeout_s=100)
    assert code == 0, output
    assert len(relay.messages) == 1, output
    recipients, message = relay.messages[0]
    assert recipients == ["telephony-team@example.com"]
    assert message["Subject"].startswith("[mesh-producer] telephony: ")
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert "Top error rules:" in text
    assert f"file://{tmp_path / 'lake'}" in text
    assert relay.password not in output
    # Not a terminal, JSON logs: run --once ends with one JSON summary line.
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["event"] == "run_summary", output[-2000:]
    telephony = summary["domains"]["telephony"]
    assert telephony["status"] == "landed"
    assert telephony["fetched"] == telephony["landed"] + telephony["dead_lettered"] > 0
    assert telephony["top_rules"], telephony
    for rule in telephony["top_rules"]:
        assert set(rule) == {"rule", "count", "example"}, rule
        assert rule["count"] > 0, rule
        assert rule["example"].startswith("$"), rule  # the path and message of one dead letter
    assert telephony["dead_letters"].endswith("/telephony-cdr-export/failed-records/")
    assert summary["exit_code"] == code


async def test_run_once_on_a_console_ends_with_the_summary_and_its_exit_code(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """``MESH_LOG_FORMAT=console``: the per-domain summary a person reads, then the exit code."""
    lake = tmp_path / "lake"
    env = process_env(
        api_url=simulator.base_url,
        lake_url=f"file://{lake}",
        start=_NOW - timedelta(hours=1, minutes=7),
        MESH_DOMAINS="telephony",
        MESH_TELEPHONY__CLIENT_ID=TELEPHONY_CLIENT[0],
        MESH_TELEPHONY__CLIENT_SECRET=TELEPHONY_CLIENT[1],
        MESH_TELEPHONY__JOB_POLL_SECONDS="0.05",
        MESH_LOG_FORMAT="console",
    )
    code, output = await run_once_process(env, timeout_s=100)
    assert code == 0, output
    lines = output.splitlines()
    balance = next((m for line in lines if (m := _SUMMARY.match(line))), None)
    assert balance is not None, output[-3000:]
    assert balance["domain"] == "telephony"
    assert int(balance["fetched"]) == int(balance["landed"]) + int(balance["dead"]) > 0
    assert int(balance["windows"]) > 0
    rules = [line for line in lines if line.startswith("    rejected by ")]
    assert rules, output[-3000:]
    assert all(" e.g. $" in line for line in rules), rules
    assert f"    data:         file://{lake}/telephony-cdr-export/v1/" in lines
    assert f"    dead letters: file://{lake}/telephony-cdr-export/failed-records/" in lines
    assert lines[-1] == "exit code 0", output[-3000:]


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (("simulate",), ["(default: 8089)", "(default: 127.0.0.1)", "telephony-client:"]),
        (("demo",), ["(default: 6.0)", "(default: lake)"]),
        (
            ("run",),
            [
                "MESH_* environment variables",
                "MESH_HTTP_PORT, default 9108",
                "MESH_DOMAINS, default telephony,quality,wfm",
                "MESH_LAKE_URL, default file://./lake",
                "MESH_START_AT, default 24 h before the start",
                "docs/configuration.md",
            ],
        ),
    ],
)
def test_help_shows_the_defaults(
    tmp_path: Path, command: tuple[str, ...], shown: list[str]
) -> None:
    result = _cli(*command, "--help", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for default in shown:
        assert default in text, result.stdout


_SUMMARY = re.compile(
    r"^(?P<domain>\w+): (?P<windows>\d+) windows? landed, fetched (?P<fetched>\d+) = "
    r"landed (?P<landed>\d+) \+ dead-lettered (?P<dead>\d+) \(watermark "
)


def test_the_demo_shows_progress_a_summary_and_next_steps_that_work(tmp_path: Path) -> None:
    """Not a terminal: plain progress lines, then per domain the balance, the top rules with an
    example, the folders; the printed DuckDB query and audit command work as printed; a second
    run says the lake is up to date."""
    env = clean_env()
    first = _cli("demo", "--hours", "1", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert any(re.match(r"^telephony: \d+/\d+ windows, \d+ fetched = ", line) for line in lines)
    balances = {m["domain"]: m for line in lines if (m := _SUMMARY.match(line))}
    assert set(balances) == {"telephony", "quality", "wfm"}, first.stdout
    for found in balances.values():
        assert int(found["fetched"]) == int(found["landed"]) + int(found["dead"])
        assert int(found["windows"]) > 0
    rules = [line for line in lines if line.startswith("    rejected by ")]
    assert rules, first.stdout
    assert all(" e.g. $" in line for line in rules), rules
    lake = tmp_path / "lake"
    assert f"    data:         file://{lake}/telephony-cdr-export/v1/" in lines
    assert f"    dead letters: file://{lake}/telephony-cdr-export/failed-records/" in lines

    query = next(line for line in lines if "duckdb -c" in line).split('duckdb -c "', 1)[1][:-1]
    relation = duckdb.sql(query)
    assert relation is not None
    rows = relation.fetchall()
    assert {channel for channel, _ in rows} <= {"voice", "chat"}
    assert sum(count for _, count in rows) == int(balances["telephony"]["landed"])

    audit_line = next(line for line in lines if "lake audit" in line)
    assignment, command = audit_line.split("MESH_LAKE_URL=", 1)[1].split(" ", 1)
    audit = subprocess.run(
        [sys.executable, "-m", "producer", *command.split()[1:]],
        env={**env, "MESH_LAKE_URL": assignment},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr

    lake_env = {**env, "MESH_LAKE_URL": assignment}
    status = _cli("status", env=lake_env, cwd=tmp_path)
    assert status.returncode == 0, status.stdout + status.stderr
    shown = status.stdout.splitlines()
    for domain, found in balances.items():
        assert f"{domain}: ok ({assignment}/" in "\n".join(shown), status.stdout
        totals = (
            f"  totals          fetched {found['fetched']} = landed {found['landed']} + "
            f"dead-lettered {found['dead']}"
        )
        assert totals in shown, status.stdout
    assert any(line.startswith("status") or "where each domain is" in line for line in lines)

    # As a cron or Kubernetes check: any lag at all is too much with a threshold of 0 minutes.
    behind = _cli("status", "--max-lag-minutes", "0", env=lake_env, cwd=tmp_path)
    assert behind.returncode == 1, behind.stdout + behind.stderr
    for domain in balances:
        assert f"{domain}: BEHIND ({assignment}/" in behind.stdout, behind.stdout
    assert "more than 0 min of lag" in behind.stdout, behind.stdout
    as_json = _cli("status", "--json", env=lake_env, cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    states = {state["domain"]: state for state in json.loads(as_json.stdout)}
    assert set(states) == set(balances), as_json.stdout
    for domain, found in balances.items():
        assert states[domain]["behind"] is False, states[domain]
        assert states[domain]["totals"] == {
            "fetched": int(found["fetched"]),
            "landed": int(found["landed"]),
            "dead_lettered": int(found["dead"]),
        }, states[domain]

    second = _cli("demo", "--hours", "1", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    for domain in ("telephony", "quality", "wfm"):
        assert any(
            line.startswith(f"{domain}: up to date (watermark ")
            for line in second.stdout.splitlines()
        ), second.stdout


def test_the_demo_on_a_lake_url_prints_the_next_steps_that_work_there(tmp_path: Path) -> None:
    """``--lake-url``: no local DuckDB glob to offer, but ``status`` and ``lake audit`` work on
    any lake; both are printed with the URL, and work as printed."""
    url = f"file://{tmp_path / 'elsewhere'}"
    env = clean_env()
    result = _cli("demo", "--hours", "1", "--lake-url", url, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "Next:" in lines, result.stdout
    steps = lines[lines.index("Next:") + 1 :]
    assert not any("duckdb" in step for step in steps), steps
    for command in ("mesh-producer lake audit --domain telephony", "mesh-producer status"):
        step = next((line for line in steps if line.endswith(f"MESH_LAKE_URL={url} {command}")), "")
        assert step, (command, steps)
        run = subprocess.run(
            [sys.executable, "-m", "producer", *command.split()[1:]],
            env={**env, "MESH_LAKE_URL": url},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr


def test_on_a_terminal_the_demo_redraws_its_progress_in_place(tmp_path: Path) -> None:
    """Under a pseudo-terminal the progress is a set of bars redrawn with ANSI cursor moves."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "producer", "demo", "--hours", "1"],
            env=clean_env(),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
        )
        os.close(follower)
        output = bytearray()
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the demo is done
                break
            if not chunk:
                break
            output.extend(chunk)
        assert process.wait(timeout=120) == 0, output.decode(errors="replace")
    finally:
        os.close(leader)
    text = output.decode(errors="replace")
    assert "\x1b[2K[" in text
    assert re.search(r"\x1b\[3F", text), "the three domain lines are redrawn in place"
    assert "####################] telephony: " in text, "the bar fills when a domain is done"


@pytest.mark.parametrize(
    "simulator_config",
    [
        telephony_config(
            lambda: _NOW,
            client_permissions={TELEPHONY_CLIENT[0]: frozenset({"quality:evaluation:view"})},
        )
    ],
)
async def test_a_missing_platform_permission_is_named(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    """The Telephony client's role lacks the analytics permission: one line says which."""
    env = process_env(
        api_url=simulator.base_url,
        lake_url=f"file://{tmp_path / 'lake'}",
        start=_NOW - timedelta(hours=1),
        MESH_DOMAINS="telephony",
        MESH_TELEPHONY__CLIENT_ID=TELEPHONY_CLIENT[0],
        MESH_TELEPHONY__CLIENT_SECRET=TELEPHONY_CLIENT[1],
    )
    code, output = await run_once_process(env, timeout_s=100)
    assert code == 1, output
    said = [line for line in output.splitlines() if line.startswith("mesh-producer:")]
    assert len(said) == 1, output
    assert said[0].startswith(
        "mesh-producer: domain telephony failed: the platform refused GET "
        "/api/v2/analytics/conversations/details/jobs/availability (403 missing.permissions"
    ), said[0]
    assert said[0].endswith("the OAuth client's role needs analytics:conversationDetail:view"), (
        said[0]
    )
    assert not (tmp_path / "lake" / "telephony-cdr-export" / "_state" / "checkpoint.json").exists()


def test_status_on_a_fresh_lake_says_nothing_landed_and_exits_1(tmp_path: Path) -> None:
    env = {**clean_env(), "MESH_LAKE_URL": f"file://{tmp_path / 'lake'}"}
    result = _cli("status", "--domain", "telephony", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == (
        f"telephony: BEHIND, nothing landed yet in file://{tmp_path / 'lake'}/telephony-cdr-export"
    )
