"""The demo lands into Azure Blob (Azurite) and GCS (fake-gcs-server), and the lake audits clean.

``mesh-producer demo --lake-url az://CONTAINER`` (or ``gs://BUCKET``) runs as a person would run
it, with only the cloud's usual variables (``AZURE_STORAGE_CONNECTION_STRING``,
``STORAGE_EMULATOR_HOST``) in its environment; then ``mesh-producer lake audit`` on the same
lake recounts every domain and agrees with the demo's own balance, and the objects read back
with the cloud's own client (not our store) are under each domain's prefix.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.backends import read_backend
from tests.fixtures.process import clean_env

pytestmark = pytest.mark.e2e

_SUMMARY = re.compile(
    r"^(?P<domain>\w+): (?P<windows>\d+) windows? landed, fetched (?P<fetched>\d+) = "
    r"landed (?P<landed>\d+) \+ dead-lettered (?P<dead>\d+) \(watermark "
)
_AUDIT = re.compile(
    r"^lake audit (?P<domain>\w+) \((?P<where>[^)]*)\): \d+ window\(s\), \d+ object\(s\), "
    r"(?P<landed>\d+) landed \+ (?P<dead>\d+) dead-lettered in committed windows; "
    r"checkpoint totals (?P<ck_landed>\d+) \+ (?P<ck_dead>\d+), watermark \S+: consistent$"
)
_PREFIXES = {
    "telephony": "telephony-cdr-export/",
    "quality": "qms-scores-export/",
    "wfm": "wfm-schedules-export/",
}


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("lake_backend", ["az", "gs"], indirect=True)
def test_the_demo_lands_in_the_cloud_emulator_and_the_lake_audits_consistent(
    lake_backend: str, lake_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Exit 0, every domain's balance holds, ``lake audit`` finds the same counts, nothing
    lands in the working folder (no ``file://`` lake), and the objects are in the cloud."""
    env = clean_env()
    demo = _cli("demo", "--hours", "1", "--lake-url", lake_url, env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"lake at {lake_url}" in demo.stdout, demo.stdout
    balances = {m["domain"]: m for line in demo.stdout.splitlines() if (m := _SUMMARY.match(line))}
    assert set(balances) == {"telephony", "quality", "wfm"}, demo.stdout
    for found in balances.values():
        assert int(found["fetched"]) == int(found["landed"]) + int(found["dead"])
        assert int(found["windows"]) > 0
    assert not (tmp_path / "lake").exists(), "the demo wrote a file:// lake as well"

    for domain, found in balances.items():
        audit = _cli(
            "lake",
            "audit",
            "--domain",
            domain,
            env={**env, "MESH_LAKE_URL": lake_url},
            cwd=tmp_path,
        )
        assert audit.returncode == 0, audit.stdout + audit.stderr
        verdict = _AUDIT.match(audit.stdout.splitlines()[-1])
        assert verdict is not None, audit.stdout
        assert verdict["where"].startswith(f"{lake_url}/"), audit.stdout
        assert (verdict["ck_landed"], verdict["ck_dead"]) == (found["landed"], found["dead"])
        if domain != "wfm":  # a schedule snapshot's lines are not the windows' records
            assert (verdict["landed"], verdict["dead"]) == (found["landed"], found["dead"])

    objects = read_backend(request, lake_url)
    for domain, prefix in _PREFIXES.items():
        assert any(key.startswith(f"{prefix}v1/") for key in objects), (domain, sorted(objects))
        assert f"{prefix}_state/checkpoint.json" in objects, (domain, sorted(objects)[:20])
