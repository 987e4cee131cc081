"""The container image recipe: lint-clean, non-root, read-only friendly, the CLI as entry point.

``hadolint`` lints the Dockerfile; the rest reads it: multi-stage, a fixed non-root uid, the
console script as ENTRYPOINT with ``run`` as CMD, OCI labels with the project's version, the
metrics port, and a ``.dockerignore`` that sends the build exactly what it copies. (Building the
image needs a container engine, which the test machines do not have: see docs/kubernetes.md.)
"""

from __future__ import annotations

import fnmatch
import json
import tomllib
from pathlib import Path

from producer.settings import Settings
from tests.deploy.tools import PROJECT_ROOT, run_tool

DOCKERFILE = PROJECT_ROOT / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = text.replace("\\\n", " ")
    pairs = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            word, _, rest = stripped.partition(" ")
            pairs.append((word.upper(), " ".join(rest.split())))
    return pairs


def _final_stage(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (word, _) in enumerate(pairs) if word == "FROM")
    return pairs[last_from:]


def test_hadolint_passes() -> None:
    """hadolint finds nothing in the Dockerfile (any finding fails CI)."""
    result = run_tool("hadolint", str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_live(tmp_path: Path) -> None:
    """The lint is real: a Dockerfile with well-known mistakes fails it."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nUSER root\n")
    assert run_tool("hadolint", str(bad)).returncode != 0


def test_runtime_stage_runs_the_cli_as_a_fixed_non_root_user() -> None:
    """Multi-stage; final stage: numeric non-root USER, ENTRYPOINT mesh-producer, CMD run."""
    pairs = _instructions(DOCKERFILE.read_text())
    assert sum(word == "FROM" for word, _ in pairs) >= 2, "expected a build and a runtime stage"
    final = _final_stage(pairs)
    users = [args for word, args in final if word == "USER"]
    assert users == ["10001:10001"]
    assert ("ENTRYPOINT", '["mesh-producer"]') in final
    assert ("CMD", '["run"]') in final
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "mesh-producer" in scripts
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["mesh-producer"]


def test_runtime_environment_suits_a_read_only_root() -> None:
    """No bytecode writes, TMPDIR on the mounted /tmp, contracts where the image puts them."""
    final = _final_stage(_instructions(DOCKERFILE.read_text()))
    env = " ".join(args for word, args in final if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "TMPDIR=/tmp" in env
    assert "MESH_CONTRACTS_DIR=/app/config/contracts" in env
    assert ("COPY", "config /app/config") in final
    port = Settings.model_fields["http_port"].default
    assert ("EXPOSE", str(port)) in final


def test_oci_labels_carry_the_project_version() -> None:
    """OCI labels name the image and its version; the default version is the package's."""
    pairs = _instructions(DOCKERFILE.read_text())
    labels = " ".join(args for word, args in pairs if word == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    version = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ("ARG", f"VERSION={version}") in pairs


def test_dockerignore_sends_what_is_copied_and_nothing_else() -> None:
    """Every COPY source passes .dockerignore; tests, docs, the venv and .git do not."""
    patterns = [
        line.strip()
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def sent(path: str) -> bool:
        included = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
                included = negate
        return included

    sources = [
        source
        for word, args in _instructions(DOCKERFILE.read_text())
        if word == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    assert sources
    for source in sources:
        assert sent(source.rstrip("/")), f"{source} is copied but excluded by .dockerignore"
    for path in ("tests", ".git", ".venv", "docs", "deploy", "lake", "producer/__pycache__"):
        assert not sent(path), f"{path} would be sent to the build"
