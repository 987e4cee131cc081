"""Federated governance: who may read which data product, as IAM policies generated and checked.

    consumers.yaml --model.py--> GovernanceConfig      (groups, IdP scopes, grants, approvals)
    MESH_* lake vars --ports.py--> LakeLayout          (each domain's bucket and prefixes)
    render.py   -> one policy per consumer group and per producer, and the IdP scope table
    lint.py     -> findings on rendered or hand-written policies (areas.py reads resources back)
    files.py / commands.py -> ``mesh-producer policies render | lint``; render writes only what
                  lint passes (one gate, ``clouds.lint_rendered``), else prints the findings

Nothing here talks to a cloud: policies are plain JSON documents for Terraform or the AWS CLI.
"""

from __future__ import annotations

from producer.governance.lint import Finding, Principal, Reading, lint_policy
from producer.governance.model import GovernanceConfig, parse_governance
from producer.governance.ports import LakeLayout, build_layout, read_layout
from producer.governance.render import Rendered, render

__all__ = [
    "Finding",
    "GovernanceConfig",
    "LakeLayout",
    "Principal",
    "Reading",
    "Rendered",
    "build_layout",
    "lint_policy",
    "parse_governance",
    "read_layout",
    "render",
]
