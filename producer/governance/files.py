"""Governance, the file shell: reads ``consumers.yaml`` and policy JSON, writes rendered files.

Owns every file access of ``policies render`` and ``policies lint`` and turns unreadable or
unparsable files into a one-line ``ConfigError`` naming the file (exit 2). The only governance
module importing PyYAML; it decides nothing about policies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from producer.errors import ConfigError
from producer.governance.model import GovernanceConfig, parse_governance

__all__ = ["default_governance_file", "load_governance", "read_policy", "write_files"]


def default_governance_file() -> Path:
    """The project's ``config/governance/consumers.yaml`` (next to the package)."""
    return Path(__file__).resolve().parents[2] / "config" / "governance" / "consumers.yaml"


def load_governance(path: Path) -> GovernanceConfig:
    """Read and validate ``path``; ``ConfigError`` names the file and the field or YAML line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    return parse_governance(data, str(path))


def read_policy(path: Path) -> Any:
    """The parsed JSON of a policy file; ``ConfigError`` if it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None


def write_files(folder: Path, files: Mapping[str, str]) -> list[Path]:
    """Write each ``name → text`` into ``folder`` (created if needed); returns the paths, sorted."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in sorted(files.items()):
            path = folder / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write ({exc.strerror or exc})") from None
    return written
