"""What a person reads: the CLI run as a subprocess, its exit code and its words.

Each bad setting gives exit 2 and one line that names the variable and says what is expected; a
failed domain is named once; the guide's own contract file is accepted as it is.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.process import clean_env

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
