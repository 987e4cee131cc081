"""``mesh-producer contracts check [--against REF]`` on a real, temporary git repository.

The guide's Edge Case 2 runs the CLI as a subprocess: renaming ``agent_id`` to ``staff_id`` is
refused as 1.1 and accepted as 2.0. The other cases call ``main`` in-process (same parser, same
git calls) to stay fast: edits of released files, reformatting, bad refs and bad files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from producer.cli import main
from producer.settings import default_contracts_dir

pytestmark = pytest.mark.e2e

_GIT = shutil.which("git")
_SHIPPED = default_contracts_dir() / "telephony" / "1.0.json"


def _git(repo: Path, *args: str) -> None:
    assert _GIT is not None
    subprocess.run(
        [_GIT, "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository whose ``main`` has released telephony 1.0 (the shipped contract)."""
    if _GIT is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    root = tmp_path / "repo"
    folder = root / "config" / "contracts" / "telephony"
    folder.mkdir(parents=True)
    shutil.copy(_SHIPPED, folder / "1.0.json")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "telephony 1.0")
    return root


def _contracts(repo: Path) -> Path:
    return repo / "config" / "contracts"


def _renamed(version: str) -> dict[str, Any]:
    """telephony 1.0 with metadata.agent_id renamed to staff_id, as ``version``."""
    body: dict[str, Any] = json.loads(_SHIPPED.read_text())
    body["version"] = version
    meta = body["schema"]["properties"]["metadata"]["properties"]
    meta["staff_id"] = meta.pop("agent_id")
    return body


def _write(repo: Path, version: str, body: Any) -> Path:
    path = _contracts(repo) / "telephony" / f"{version}.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body, indent=2))
    return path


def _cli(repo: Path, *args: str) -> tuple[int, str]:
    """The console script as a subprocess, in the repository, with no MESH_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESH_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, "-m", "producer", "contracts", "check", *args],
        cwd=repo,
        env={**env, "MESH_CONTRACTS_DIR": str(_contracts(repo))},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def _check(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, str]:
    code = main(["contracts", "check", "--dir", str(_contracts(repo)), *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_edge_case_2_rename_is_a_major_not_a_minor(repo: Path) -> None:
    """agent_id -> staff_id: exit 1 as 1.1 (field, rule, versions named), exit 0 as 2.0."""
    minor = _write(repo, "1.1", _renamed("1.1"))
    code, output = _cli(repo, "--against", "main")
    assert code == 1, output
    assert (
        "BREAKING telephony 1.0 -> 1.1: field metadata.agent_id: renamed: "
        "'agent_id' became 'staff_id'"
    ) in output
    minor.unlink()
    _write(repo, "2.0", _renamed("2.0"))
    code, output = _cli(repo, "--against", "main")
    assert code == 0, output
    assert output.strip().endswith("1 domain(s), 2 version(s): compatible")


def test_a_compatible_minor_passes_against_main(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keeping agent_id and adding staff_id with a default is the guide's minor bump."""
    body: dict[str, Any] = json.loads(_SHIPPED.read_text())
    body["version"] = "1.1"
    body["schema"]["properties"]["metadata"]["properties"]["staff_id"] = {"type": "string"}
    body["defaults"] = {"metadata.staff_id": "unknown"}
    _write(repo, "1.1", body)
    assert _check(capsys, repo, "--against", "main")[0] == 0


def test_a_released_schema_edited_in_place_fails(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guide's trap: duration_seconds retyped in 1.0 itself, with no version bump."""
    body: dict[str, Any] = json.loads(_SHIPPED.read_text())
    body["schema"]["properties"]["duration_seconds"]["type"] = "string"
    _write(repo, "1.0", body)
    assert _check(capsys, repo)[0] == 0  # without --against nothing tells it was released
    code, output = _check(capsys, repo, "--against", "main")
    assert code == 1
    assert "telephony 1.0: contract: schema_changed_without_bump: 'schema' differs" in output


def test_released_files_are_immutable_but_formatting_is_free(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Re-indenting a released file is fine; editing its description or deleting it is not."""
    body: dict[str, Any] = json.loads(_SHIPPED.read_text())
    _write(repo, "1.0", json.dumps(body, indent=4, sort_keys=True))
    assert _check(capsys, repo, "--against", "main")[0] == 0
    _write(repo, "1.0", {**body, "description": "reworded"})
    code, output = _check(capsys, repo, "--against", "main")
    assert (code, "released_changed: 'description' differs" in output) == (1, True)
    (_contracts(repo) / "telephony" / "1.0.json").unlink()
    _write(repo, "2.0", _renamed("2.0"))
    code, output = _check(capsys, repo, "--against", "main")
    assert (code, "telephony 1.0: contract: released_removed" in output) == (1, True)


def test_bad_input_exits_2_with_one_line(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An unknown ref, a folder outside git, or a broken file: exit 2, one line naming it."""
    code, output = _check(capsys, repo, "--against", "no-such-branch")
    assert (code, len(output.strip().splitlines())) == (2, 1)
    assert "'no-such-branch' is not a commit" in output
    elsewhere = tmp_path / "elsewhere" / "telephony"
    elsewhere.mkdir(parents=True)
    shutil.copy(_SHIPPED, elsewhere / "1.0.json")
    code = main(["contracts", "check", "--dir", str(elsewhere.parent), "--against", "main"])
    assert code == 2
    assert "is not inside a git repository" in capsys.readouterr().err
    broken = _write(repo, "1.1", "{ not json")
    code, output = _check(capsys, repo)
    assert (code, len(output.strip().splitlines())) == (2, 1)
    assert f"contract file {broken}: invalid JSON" in output
