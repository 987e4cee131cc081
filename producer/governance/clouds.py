"""Governance per cloud: which renderer and which lint ``policies render|lint --cloud`` use.

``aws`` is the IAM policies of ``render.py``/``lint.py``; ``azure`` (role assignments with ABAC
conditions, ``azure.py``) and ``gcp`` (IAM bindings with IAM Conditions, ``gcp.py``) render and
lint the same ``consumers.yaml`` with the same file names. ``check_lake`` refuses a lake of
another cloud (``MESH_LAKE_URL``). Pure dispatch: no policy logic here.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Literal

from producer.errors import ConfigError
from producer.governance.azure import lint_azure, render_azure
from producer.governance.gcp import lint_gcp, render_gcp
from producer.governance.lint import Finding, Principal, Reading, lint_policy
from producer.governance.model import GovernanceConfig
from producer.governance.ports import LakeLayout
from producer.governance.render import render

__all__ = [
    "CLOUDS",
    "Cloud",
    "check_lake",
    "cloud_of",
    "lint_document",
    "lint_rendered",
    "render_documents",
    "render_files",
]

Cloud = Literal["aws", "azure", "gcp"]
CLOUDS: tuple[Cloud, ...] = ("aws", "azure", "gcp")
_SCHEMES: dict[str, str] = {"aws": "s3", "azure": "az", "gcp": "gs"}


def cloud_of(layout: LakeLayout, given: str | None = None) -> Cloud:
    """The cloud ``policies`` works for: the lake's own (``s3://`` is aws, ``az://`` azure,
    ``gs://`` gcp); ``given`` (``--cloud``) must be that one (``check_lake``)."""
    if given is not None:
        check_lake(given, layout)
    for cloud in CLOUDS:
        if _SCHEMES[cloud] == layout.scheme:
            return cloud
    raise ConfigError("MESH_LAKE_URL: access policies need an s3://, az:// or gs:// lake")


def check_lake(cloud: str, layout: LakeLayout) -> None:
    """``ConfigError`` naming ``MESH_LAKE_URL`` when the lake is not on ``cloud``."""
    expected = _SCHEMES[cloud]
    if layout.scheme != expected:
        raise ConfigError(
            f"MESH_LAKE_URL: --cloud {cloud} needs a {expected}:// lake, not {layout.scheme}://"
        )


def render_documents(
    cloud: str, config: GovernanceConfig, layout: LakeLayout
) -> dict[str, dict[str, Any]]:
    """File name → policy document for ``cloud`` (the AWS IdP table is not a policy)."""
    if cloud == "azure":
        return render_azure(config, layout)
    if cloud == "gcp":
        return render_gcp(config, layout)
    return dict(render(config, layout).policies)


def render_files(cloud: str, config: GovernanceConfig, layout: LakeLayout) -> dict[str, str]:
    """File name → JSON text of everything ``policies render --cloud`` writes."""
    if cloud == "aws":
        return render(config, layout).files()
    documents = render_documents(cloud, config, layout)
    return {name: json.dumps(document, indent=2) + "\n" for name, document in documents.items()}


def lint_document(cloud: str, document: Any, reading: Reading) -> list[Finding]:
    """The findings of ``cloud``'s lint for one document read as ``reading`` says."""
    if cloud == "azure":
        return lint_azure(document, reading)
    if cloud == "gcp":
        return lint_gcp(document, reading)
    return lint_policy(document, reading)


def lint_rendered(
    cloud: str, config: GovernanceConfig, layout: LakeLayout, today: date
) -> tuple[list[str], int]:
    """``Finding.line()`` of every finding on what ``render --cloud`` makes, and how many
    policies that is. The gate ``policies render`` (which writes nothing past a finding) and
    ``policies lint`` apply alike; a file name that names no principal is ``malformed``."""
    check_lake(cloud, layout)
    documents = render_documents(cloud, config, layout)
    lines: list[str] = []
    for name, document in documents.items():
        principal = Principal.from_file_name(name)
        if principal is None:
            lines.append(Finding("malformed", "policy", "whose policy is it?").line(name))
            continue
        findings = lint_document(cloud, document, Reading(principal, config, layout, today))
        lines.extend(finding.line(name) for finding in findings)
    return lines, len(documents)
