"""The deployment artifacts the deploy checks read, and how to read them.

Paths of the kustomize tree, the alert rules and their unit tests, the PrometheusRule, the
Grafana dashboard and the runbook; ``render()`` runs the real ``kubectl kustomize``;
``alert_rules()`` and ``dashboard_exprs()`` parse the rule file and the dashboard's queries.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.deploy.tools import PROJECT_ROOT, run_tool

__all__ = [
    "DASHBOARD",
    "KUSTOMIZE_DIR",
    "OVERLAYS",
    "PROMETHEUS_RULE",
    "RULES",
    "RULE_TESTS",
    "RUNBOOK",
    "alert_rules",
    "dashboard_exprs",
    "render",
]

OVERLAYS = ("telephony", "quality", "wfm", "all-in-one")
KUSTOMIZE_DIR = PROJECT_ROOT / "deploy" / "kustomize"
RULES = PROJECT_ROOT / "deploy" / "prometheus" / "rules.yml"
RULE_TESTS = PROJECT_ROOT / "deploy" / "prometheus" / "rules.test.yml"
PROMETHEUS_RULE = KUSTOMIZE_DIR / "monitoring" / "prometheusrule.yaml"
DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "mesh-producer.json"
RUNBOOK = PROJECT_ROOT / "docs" / "runbook.md"


def render(path: str) -> list[dict[str, Any]]:
    """``kubectl kustomize <path>`` (relative to deploy/kustomize), parsed; fails on any error."""
    result = run_tool("kubectl", "kustomize", str(KUSTOMIZE_DIR / path))
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of every group in deploy/prometheus/rules.yml."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    """Every query of the dashboard, with Grafana's variables replaced by plain PromQL."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [
        target["expr"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]
    return [e.replace("$__rate_interval", "5m").replace("$domain", ".*") for e in exprs]
