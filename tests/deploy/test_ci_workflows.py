"""The shipped CI workflows (``deploy/ci/``): governance is a gate, not advice.

Reads each workflow as GitHub Actions would: the governance workflow runs ``policies lint`` on
every change to the governance file or code, on merge and daily (approvals expire without a
commit), before ``policies render``; its step that passes the repository's ``MESH_*`` variables
on is run for real with bash. (Running the workflow itself needs GitHub's runners.)
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
import yaml

from tests.deploy.tools import PROJECT_ROOT

CI = PROJECT_ROOT / "deploy" / "ci"
_BASH = shutil.which("bash") or "/bin/bash"  # GitHub's shell for `run` on Linux runners


def _workflow(name: str) -> dict[Any, Any]:
    loaded = yaml.safe_load((CI / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert isinstance(triggers, dict)
    return triggers


def _runs(workflow: dict[Any, Any]) -> list[str]:
    """Every ``run`` of every step, in job and step order."""
    return [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]


def test_a_workflow_runs_policies_lint_on_governance_changes_and_daily() -> None:
    """Some shipped workflow lints the policies on pull requests touching the governance file
    or code, on merge to main and on a daily schedule, and lints before it renders."""
    linting = [
        path.name
        for path in sorted(CI.glob("*.yml"))
        if any("mesh-producer policies lint" in run for run in _runs(_workflow(path.name)))
    ]
    assert linting == ["governance.yml"]
    workflow = _workflow("governance.yml")
    triggers = _triggers(workflow)
    for event in ("pull_request", "push"):
        paths = triggers[event]["paths"]
        assert "config/governance/**" in paths
        assert "producer/governance/**" in paths
    assert triggers["push"]["branches"] == ["main"]
    assert triggers["schedule"], "an approval expires without any change: lint daily"
    runs = _runs(workflow)
    lint = next(i for i, run in enumerate(runs) if "policies lint" in run)
    render = next(i for i, run in enumerate(runs) if "policies render" in run)
    assert lint < render
    assert workflow["permissions"] == {"contents": "read"}  # needs no cloud credentials


def test_only_the_repository_variables_that_are_set_reach_the_commands(tmp_path: Path) -> None:
    """GitHub reads an unset variable as "", which the producer takes as a value (an empty
    bucket is a bad bucket): the step passes on only the MESH_* variables that have a value."""
    workflow = _workflow("governance.yml")
    steps = workflow["jobs"]["policies"]["steps"]
    step = next(step for step in steps if "GITHUB_ENV" in step.get("run", ""))
    assert step["env"]["REPOSITORY_VARIABLES"] == "${{ toJSON(vars) }}"
    variables = {
        "MESH_LAKE_URL": "s3://genesys-data-lake",
        "MESH_WFM__BUCKET": "wfm-schedules-lake",
        "MESH_QUALITY__BUCKET": "",
        "CONTRACTS_PUBLISH_ROLE_ARN": "arn:aws:iam::123456789012:role/publisher",
    }
    github_env = tmp_path / "github_env"
    subprocess.run(
        [_BASH, "-e", "-c", step["run"]],
        env=os.environ
        | {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "REPOSITORY_VARIABLES": json.dumps(variables),
            "GITHUB_ENV": str(github_env),
        },
        check=True,
        timeout=60,
    )
    assert github_env.read_text().splitlines() == [
        "MESH_LAKE_URL=s3://genesys-data-lake",
        "MESH_WFM__BUCKET=wfm-schedules-lake",
    ]


@pytest.mark.parametrize(
    ("lake", "marker"),
    [
        ("s3://genesys-data-lake", '"Statement"'),
        ("az://genesys-data-lake", '"roleAssignments"'),
        ("gs://genesys-data-lake", '"bindings"'),
    ],
)
def test_the_gate_runs_on_every_clouds_lake(tmp_path: Path, lake: str, marker: str) -> None:
    """The workflow's lint and render steps, run with bash as written, pass on the shipped
    governance file for a lake on each cloud: they name no ``--cloud``, the lake decides."""
    runs = [run for run in _runs(_workflow("governance.yml")) if "mesh-producer policies" in run]
    assert len(runs) == 2
    env = {name: value for name, value in os.environ.items() if not name.startswith("MESH_")} | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MESH_LAKE_URL": lake,
    }
    for run in runs:
        done = subprocess.run(
            [_BASH, "-e", "-c", run],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    consumer = tmp_path / "policies" / "consumer-analytics-engineering.json"
    assert marker in consumer.read_text()
