"""``mesh-producer demo --platform nice``: Telephony and Quality from the CXone simulator.

Run as a person would (a subprocess in an empty folder): WFM is skipped with a line saying why,
both CXone domains land windows with rejections in each DLQ, the summary balances, the requests
the simulated tenant answered are counted (never a 403 from the Data Extraction rule), and
``lake audit`` finds both products consistent.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.lake import lake_lines
from tests.fixtures.process import clean_env

pytestmark = pytest.mark.e2e

_SUMMARY = re.compile(
    r"^(?P<domain>\w+): (?P<windows>\d+) windows? landed, fetched (?P<fetched>\d+) = "
    r"landed (?P<landed>\d+) \+ dead-lettered (?P<dead>\d+) \(watermark "
)
_NICE_SIM = ("--platform", "nice", "--port", "0", "--api-port", "0")
_PREFIXES = {"telephony": "telephony-cdr-export", "quality": "qms-scores-export"}


def _cli(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer", *args],
        env=clean_env() | {"MESH_LAKE_URL": (cwd / "lake").as_uri()},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_cxone_demo_lands_telephony_and_quality_with_rejections(tmp_path: Path) -> None:
    done = _cli("demo", "--platform", "nice", "--hours", "2", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(
        line.startswith("demo: wfm skipped: NICE CXone documents no published-schedule source")
        for line in lines
    ), done.stdout
    balances = {m["domain"]: m for line in lines if (m := _SUMMARY.match(line))}
    assert set(balances) == set(_PREFIXES), done.stdout
    for found in balances.values():
        assert int(found["windows"]) > 0
        assert int(found["fetched"]) == int(found["landed"]) + int(found["dead"])
        assert int(found["landed"]) > 0
        assert int(found["dead"]) > 0
    requests = next(line for line in lines if line.startswith("requests the simulator answered"))
    assert "job submit" in requests
    assert "contacts page" in requests
    assert "(403)" not in requests  # the tenant gate kept to the Data Extraction rule

    lake = tmp_path / "lake"
    for domain, prefix in _PREFIXES.items():
        objects = {
            path.relative_to(lake).as_posix(): path.read_bytes()
            for path in (lake / prefix).rglob("*.ndjson.gz")
        }
        dead = lake_lines(objects, "/failed-records/")
        assert len(dead) == int(balances[domain]["dead"])
        assert all(line["errors"] and line["source"] for line in dead)
        assert len(lake_lines(objects, "/v1/")) == int(balances[domain]["landed"])
        audit = _cli("lake", "audit", "--domain", domain, cwd=tmp_path, timeout=60)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert audit.stdout.strip().endswith(": consistent"), audit.stdout


def test_simulate_nice_serves_a_tenant_the_producer_can_reach(tmp_path: Path) -> None:
    """``simulate --platform nice``: both hosts logged; the default access key gets a token and
    discovery names the logged API host."""
    process = subprocess.Popen(
        [sys.executable, "-m", "producer", "simulate", *_NICE_SIM],
        env=clean_env() | {"PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"api_url=(\S+) auth_url=(\S+)", line)
        assert found, line
        api_url, auth_url = found.groups()
        token = _post_json(
            f"{auth_url}/authentication/v1/token/access-key",
            {"accessKeyId": "telephony-key", "accessKeySecret": "telephony-key-secret"},
        )
        assert token["access_token"]
        claims = token["id_token"].split(".")[1]
        tenant = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
        with urllib.request.urlopen(  # noqa: S310 -- the loopback URL the simulator logged
            f"{auth_url}/.well-known/cxone-configuration?tenantId={tenant['tenantId']}", timeout=10
        ) as response:
            assert json.loads(response.read())["api_endpoint"].rstrip("/") == api_url
    finally:
        process.terminate()
        process.communicate(timeout=30)


def _post_json(url: str, body: dict[str, str]) -> dict[str, str]:
    request = urllib.request.Request(  # noqa: S310 -- the loopback URL the simulator logged
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        result: dict[str, str] = json.loads(response.read())
    return result
