"""Alerting and dashboards: rules that load and fire as documented, on metrics that exist.

``promtool check rules`` and ``promtool test rules`` on the plain rule file; the
prometheus-operator objects checked against the schema of the fields they use; the
PrometheusRule kept identical to the plain file; every alert has a runbook section and a unit
test; every metric in the rules and the Grafana dashboard is one the producer exports, and every
dashboard query is valid PromQL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry

from producer.telemetry.metrics import Metrics
from tests.deploy.artifacts import (
    DASHBOARD,
    OVERLAYS,
    PROMETHEUS_RULE,
    RULE_TESTS,
    RULES,
    RUNBOOK,
    alert_rules,
    dashboard_exprs,
)
from tests.deploy.tools import run_tool

Docs = list[dict[str, Any]]

_METRIC = re.compile(r"\b(mesh_[a-z0-9_]+|up)\b")
_DURATION = (
    "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "labels": _LABELS},
}
# The fields of the prometheus-operator CRDs (monitoring.coreos.com/v1) these manifests use,
# with the CRDs' own types and patterns; anything else is rejected, so a typo cannot pass.
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["matchLabels"],
                    "properties": {"matchLabels": _LABELS},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": _DURATION},
                        },
                    },
                },
            },
        },
    },
}
PROMETHEUS_RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "rules"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["alert", "expr"],
                                    "properties": {
                                        "alert": {"type": "string", "minLength": 1},
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": {"type": "string", "pattern": _DURATION},
                                        "labels": _LABELS,
                                        "annotations": _LABELS,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    },
}


def _exported_names() -> set[str]:
    """Every series name the producer's metric families can expose."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    names = set()
    for family in Metrics(CollectorRegistry()).registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
    return names


class TestRules:
    """The plain rule file and its promtool unit tests."""

    def test_promtool_accepts_the_rules(self) -> None:
        """promtool check rules: every expression parses and every rule is well formed."""
        result = run_tool("promtool", "check", "rules", str(RULES))
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout

    def test_promtool_unit_tests_pass(self) -> None:
        """promtool test rules: each alert fires on its case and stays quiet on look-alikes."""
        result = run_tool("promtool", "test", "rules", str(RULE_TESTS))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_promtool_rejects_a_broken_expression(self, tmp_path: Path) -> None:
        """The rule check is live: an expression that does not parse fails it."""
        broken = tmp_path / "broken.yml"
        broken.write_text(
            yaml.safe_dump({"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "rate("}]}]})
        )
        assert run_tool("promtool", "check", "rules", str(broken)).returncode != 0

    def test_every_alert_has_a_unit_test_and_a_runbook_section(self) -> None:
        """No alert ships without a promtool case and a runbook entry its URL points at."""
        tested = {
            case["alertname"]
            for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
            for case in test.get("alert_rule_test", [])
            if case.get("exp_alerts")
        }
        headings = set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(), flags=re.MULTILINE))
        for rule in alert_rules():
            name = rule["alert"]
            assert name in tested, f"{name} has no firing case in {RULE_TESTS.name}"
            assert name in headings, f"{name} has no '## {name}' section in docs/runbook.md"
            assert rule["annotations"]["runbook_url"] == f"docs/runbook.md#{name.lower()}"
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert {"summary", "description"} <= set(rule["annotations"])

    def test_rules_use_only_exported_metrics(self) -> None:
        """A renamed metric would silence an alert: every name must be one the producer has."""
        exported = _exported_names() | {"up"}
        for rule in alert_rules():
            used = set(_METRIC.findall(rule["expr"]))
            assert used, rule["alert"]
            assert used <= exported, f"{rule['alert']}: unknown {sorted(used - exported)}"

    def test_required_signals_are_alerted_on(self) -> None:
        """Lag, dead letters, token refresh, throttling and readiness each have an alert."""
        exprs = {rule["alert"]: rule["expr"] for rule in alert_rules()}
        assert "mesh_watermark_timestamp_seconds" in exprs["MeshExportLagHigh"]
        assert 'outcome="dead_lettered"' in exprs["MeshDeadLetterRatioHigh"]
        assert 'outcome="failure"' in exprs["MeshTokenRefreshFailing"]
        assert "mesh_token_expiry_timestamp_seconds" in exprs["MeshTokenExpiring"]
        assert "mesh_throttled_total" in exprs["MeshThrottlingSustained"]
        assert "mesh_domain_ready" in exprs["MeshDomainNotReady"]


class TestOperatorObjects:
    """ServiceMonitor and PrometheusRule as the overlays render them."""

    @pytest.mark.parametrize("overlay", OVERLAYS)
    def test_service_monitor_scrapes_the_metrics_port(
        self, rendered: dict[str, Docs], overlay: str
    ) -> None:
        """Schema-valid, and selects this overlay's Service on its metrics port at /metrics."""
        docs = rendered[overlay]
        (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
        jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)
        (service,) = [d for d in docs if d["kind"] == "Service"]
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert all(service["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ports = {port["name"] for port in service["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in ports
            assert endpoint["path"] == "/metrics"

    def test_prometheus_rule_is_the_plain_rule_file(self, rendered: dict[str, Docs]) -> None:
        """Schema-valid, and the same groups as deploy/prometheus/rules.yml (edit both)."""
        committed = yaml.safe_load(PROMETHEUS_RULE.read_text())
        (from_overlay,) = [d for d in rendered["all-in-one"] if d["kind"] == "PrometheusRule"]
        plain = yaml.safe_load(RULES.read_text())
        for rule in (committed, from_overlay):
            jsonschema.validate(rule, PROMETHEUS_RULE_SCHEMA)
            assert rule["spec"] == plain

    def test_schema_rejects_a_misspelled_field(self, rendered: dict[str, Docs]) -> None:
        """The structural check is live: an unknown endpoint field fails it."""
        (monitor,) = [d for d in rendered["telephony"] if d["kind"] == "ServiceMonitor"]
        broken = json.loads(json.dumps(monitor))
        broken["spec"]["endpoints"][0]["intervall"] = "30s"
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SERVICE_MONITOR_SCHEMA)


class TestDashboard:
    """The Grafana dashboard JSON."""

    def test_panels_cover_the_signals_per_domain(self) -> None:
        """Lag, throughput by outcome, DLQ ratio, 429s, limiter wait, token expiry, by domain."""
        dashboard = json.loads(DASHBOARD.read_text())
        panels = [p for p in dashboard["panels"] if p["type"] != "row"]
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), "panel ids must be unique"
        text = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in panels}
        joined = " ".join(text.values())
        for needle in (
            "mesh_watermark_timestamp_seconds",
            "sum by (domain, outcome) (rate(mesh_records_total",
            'outcome="dead_lettered"',
            "mesh_throttled_total",
            "mesh_ratelimit_wait_seconds_bucket",
            "mesh_token_expiry_timestamp_seconds",
        ):
            assert needle in joined, needle
        for title, expr in text.items():
            assert 'domain=~"$domain"' in expr, f"{title}: not filtered by the domain variable"
            assert "by (domain" in expr, f"{title}: not split by domain"
        names = [v["name"] for v in dashboard["templating"]["list"]]
        assert names == ["datasource", "domain"]

    def test_queries_use_only_exported_metrics_and_parse(self, tmp_path: Path) -> None:
        """Every query names real metrics and is valid PromQL (checked by promtool)."""
        exported = _exported_names()
        exprs = dashboard_exprs()
        for expr in exprs:
            used = set(_METRIC.findall(expr)) - {"up"}
            assert used, expr
            assert used <= exported, f"unknown metric in {expr}: {used - exported}"
        rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
        path = tmp_path / "dashboard-queries.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        result = run_tool("promtool", "check", "rules", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
