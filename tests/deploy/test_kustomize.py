"""Kubernetes manifests: every overlay renders, validates strictly and runs the producer safely.

Renders each overlay with the real ``kubectl kustomize``, validates the core objects with
``kubernetes-validate --strict`` (offline schemas), and checks what the producer needs from its
pod: one writer (Recreate), a grace period above the shutdown grace, probes on its endpoints,
a locked-down security context, only variables the settings model knows, each domain's own
OAuth Secret, identity, priority and quota, and per-domain overlays that can share a namespace.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from producer.errors import ConfigError
from producer.settings import Settings, load_settings
from producer.settings.doc import variable_names
from tests.deploy.artifacts import OVERLAYS, render
from tests.deploy.tools import K8S_VERSIONS, PROJECT_ROOT, run_tool

Docs = list[dict[str, Any]]

DOMAINS_OF = {
    "telephony": ("telephony",),
    "quality": ("quality",),
    "wfm": ("wfm",),
    "all-in-one": ("telephony", "quality", "wfm"),
}
PER_DOMAIN = ("telephony", "quality", "wfm")
_OPERATOR_GROUP = "monitoring.coreos.com/"
_PLATFORM_RATE_LIMIT = 300  # requests per minute per token (reference: rate limits)


def _all(docs: Docs, kind: str) -> Docs:
    return [doc for doc in docs if doc["kind"] == kind]


def _one(docs: Docs, kind: str) -> dict[str, Any]:
    found = _all(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _pod(docs: Docs) -> dict[str, Any]:
    pod: dict[str, Any] = _one(docs, "Deployment")["spec"]["template"]
    return pod


def _container(docs: Docs) -> dict[str, Any]:
    containers = _pod(docs)["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _config(docs: Docs) -> dict[str, str]:
    """The ConfigMap the container takes its environment from."""
    (source,) = _container(docs)["envFrom"]
    name = source["configMapRef"]["name"]
    (config,) = [doc for doc in _all(docs, "ConfigMap") if doc["metadata"]["name"] == name]
    data: dict[str, str] = config["data"]
    return data


def _env(docs: Docs) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in _container(docs).get("env", [])}


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("overlay", OVERLAYS)
class TestOverlay:
    """What every overlay's rendered objects must guarantee."""

    def test_one_writer_and_a_grace_above_the_producers(
        self, rendered: dict[str, Docs], overlay: str
    ) -> None:
        """Recreate with one replica; the pod's grace period outlasts the shutdown grace."""
        spec = _one(rendered[overlay], "Deployment")["spec"]
        assert spec["replicas"] == 1
        assert spec["strategy"] == {"type": "Recreate"}
        grace = float(
            _config(rendered[overlay]).get(
                "MESH_SHUTDOWN_GRACE_SECONDS",
                Settings.model_fields["shutdown_grace_seconds"].default,
            )
        )
        # The window's grace plus time to close clients and write the last log lines.
        assert spec["template"]["spec"]["terminationGracePeriodSeconds"] >= grace + 10

    def test_probes_hit_the_health_endpoints_on_the_metrics_port(
        self, rendered: dict[str, Docs], overlay: str
    ) -> None:
        """Liveness and startup on /healthz, readiness on /readyz, on the MESH_HTTP_PORT."""
        container = _container(rendered[overlay])
        (port,) = container["ports"]
        assert port["name"] == "metrics"
        assert str(port["containerPort"]) == _config(rendered[overlay])["MESH_HTTP_PORT"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}

    def test_pod_is_locked_down(self, rendered: dict[str, Docs], overlay: str) -> None:
        """Non-root fixed uid, read-only root FS with /tmp mounted, no privileges, seccomp."""
        pod = _pod(rendered[overlay])["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["enableServiceLinks"] is False  # no injected *_SERVICE_* variables
        container = _container(rendered[overlay])
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        tmp = volumes[mounts["/tmp"]]  # noqa: S108 (the pod's scratch mount, not a temp file here)
        assert "emptyDir" in tmp
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), kind

    def test_image_is_the_project_version(self, rendered: dict[str, Docs], overlay: str) -> None:
        """The image tag follows the package version, so a release bumps both together."""
        project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
        image = _container(rendered[overlay])["image"]
        assert image.endswith(f"/ccaas-mesh-producer:{project['version']}"), image

    def test_every_variable_is_one_the_settings_model_reads(
        self, rendered: dict[str, Docs], overlay: str
    ) -> None:
        """A misspelled MESH_ variable would be silently ignored: none may appear."""
        names = set(_config(rendered[overlay])) | set(_env(rendered[overlay]))
        unknown = {n for n in names if n.startswith("MESH_")} - variable_names()
        assert not unknown, f"not read by producer/settings/model.py: {sorted(unknown)}"
        assert names - {n for n in names if n.startswith("MESH_")} <= {
            "AWS_REGION",
            "AWS_STS_REGIONAL_ENDPOINTS",
        }

    def test_each_domain_has_its_own_secret_priority_and_quota(
        self, rendered: dict[str, Docs], overlay: str
    ) -> None:
        """Client id and secret file come from the domain's own Secret; priority as designed."""
        docs = rendered[overlay]
        config, env = _config(docs), _env(docs)
        assert tuple(config["MESH_DOMAINS"].split(",")) == DOMAINS_OF[overlay]
        mounts = {m["name"]: m["mountPath"] for m in _container(docs)["volumeMounts"]}
        volumes = {v["name"]: v for v in _pod(docs)["spec"]["volumes"]}
        for domain in DOMAINS_OF[overlay]:
            key = f"MESH_{domain.upper()}__"
            ref = env[f"{key}CLIENT_ID"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": f"{domain}-oauth", "key": "client-id"}
            assert f"{key}CLIENT_SECRET" not in config, (
                "the secret itself must not be in a ConfigMap"
            )
            secret_file = Path(config[f"{key}CLIENT_SECRET_FILE"])
            volume = volumes[f"{domain}-oauth"]
            assert volume["secret"]["secretName"] == f"{domain}-oauth"
            assert {"key": "client-secret", "path": secret_file.name} in volume["secret"]["items"]
            assert Path(mounts[f"{domain}-oauth"]) == secret_file.parent
            model = Settings.model_fields[domain].annotation
            designed = (
                next(arg for arg in getattr(model, "__args__", ()) if arg is not type(None))
                .model_fields["priority"]
                .default
            )
            assert config[f"{key}PRIORITY"] == designed
            assert 0 < int(config[f"{key}RATE_LIMIT_PER_MINUTE"]) < _PLATFORM_RATE_LIMIT

    def test_settings_load_from_the_rendered_pod_environment(
        self,
        rendered: dict[str, Docs],
        overlay: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The pod's environment (Secret values stubbed) is a configuration the producer accepts."""
        docs = rendered[overlay]
        for name, value in _config(docs).items():
            stub = tmp_path / name.lower()
            if name.endswith("__CLIENT_SECRET_FILE"):
                stub.write_text("stub-secret")
            monkeypatch.setenv(name, str(stub) if stub.exists() else value)
        for name, item in _env(docs).items():
            monkeypatch.setenv(name, item.get("value", f"stub-{name.lower()}"))
        try:
            settings = load_settings()
        except ConfigError as exc:
            if "not available in this version" in str(exc):
                pytest.skip(f"{overlay}: {exc}")
            raise
        assert settings.domains == DOMAINS_OF[overlay]
        assert settings.lake.scheme == "s3"

    def test_service_and_network_policy_select_this_pod(
        self, rendered: dict[str, Docs], overlay: str
    ) -> None:
        """Metrics Service (also for not-ready pods) and NetworkPolicy: DNS and HTTPS out only."""
        docs = rendered[overlay]
        labels = _pod(docs)["metadata"]["labels"]
        service = _one(docs, "Service")["spec"]
        assert _matches(service["selector"], labels)
        assert service["publishNotReadyAddresses"] is True
        assert service["ports"] == [
            {"name": "metrics", "port": 9108, "targetPort": "metrics", "protocol": "TCP"}
        ]
        policy = _one(docs, "NetworkPolicy")["spec"]
        assert _matches(policy["podSelector"]["matchLabels"], labels)
        assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
        allowed = {
            (port["port"], port["protocol"]) for rule in policy["egress"] for port in rule["ports"]
        }
        assert allowed == {(53, "UDP"), (53, "TCP"), (443, "TCP")}
        assert all(set(rule) == {"ports"} for rule in policy["egress"])
        assert policy["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}]}]

    def test_service_account_has_its_own_role(
        self, rendered: dict[str, Docs], overlay: str
    ) -> None:
        """The pod runs as the overlay's ServiceAccount, annotated with its IAM role (IRSA)."""
        docs = rendered[overlay]
        account = _one(docs, "ServiceAccount")
        assert _pod(docs)["spec"]["serviceAccountName"] == account["metadata"]["name"]
        role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert role.startswith("arn:aws:iam::")
        if overlay in PER_DOMAIN:
            assert role.endswith(f"-{overlay}")


def test_core_objects_validate_strictly(rendered: dict[str, Docs], tmp_path: Path) -> None:
    """Every overlay's core objects pass kubernetes-validate --strict, oldest and newest version."""
    files, count = [], 0
    for overlay, docs in rendered.items():
        core = [doc for doc in docs if not doc["apiVersion"].startswith(_OPERATOR_GROUP)]
        kinds = {doc["kind"] for doc in core}
        assert kinds >= {"Deployment", "Service", "ServiceAccount", "ConfigMap", "NetworkPolicy"}
        path = tmp_path / f"{overlay}.yaml"
        path.write_text(yaml.safe_dump_all(core))
        files.append(str(path))
        count += len(core)
    for version in K8S_VERSIONS:
        result = run_tool("kubernetes-validate", "--strict", "-k", version, *files)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "WARN" not in output, output
        assert output.count(" passed ") == count, output


def test_per_domain_overlays_can_share_a_namespace(rendered: dict[str, Docs]) -> None:
    """Names never collide and no selector of one domain's overlay picks another's pods."""
    seen: dict[tuple[str, str, str], str] = {}
    for overlay in PER_DOMAIN:
        for doc in rendered[overlay]:
            meta = doc["metadata"]
            identity = (doc["kind"], meta.get("namespace", ""), meta["name"])
            assert identity not in seen, f"{identity} in both {seen.get(identity)} and {overlay}"
            seen[identity] = overlay
    for overlay in PER_DOMAIN:
        docs = rendered[overlay]
        selectors = [
            _one(docs, "Service")["spec"]["selector"],
            _one(docs, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
            _one(docs, "Deployment")["spec"]["selector"]["matchLabels"],
        ]
        for other in set(PER_DOMAIN) - {overlay}:
            pod_labels = _pod(rendered[other])["metadata"]["labels"]
            assert not any(_matches(s, pod_labels) for s in selectors), (overlay, other)
            service_labels = _one(rendered[other], "Service")["metadata"]["labels"]
            monitor = _one(docs, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
            assert not _matches(monitor, service_labels), (overlay, other)


def test_strict_validation_rejects_a_misspelled_field(tmp_path: Path) -> None:
    """The validator is live: a Deployment with an unknown field fails --strict."""
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "terminationGracePeriodSecond": 45,
                    "containers": [{"name": "c", "image": "i"}],
                },
            },
        },
    }
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = run_tool("kubernetes-validate", "--strict", str(path))
    assert result.returncode != 0
    assert "terminationGracePeriodSecond" in result.stdout + result.stderr


def test_quick_start_example_overrides_what_a_team_changes() -> None:
    """The docs' own-overlay example renders and sets registry, region, lake and IAM role."""
    docs = render("examples/telephony-production")
    config = _config(docs)
    assert config["MESH_GENESYS_REGION"] == "mypurecloud.ie"
    assert config["MESH_LAKE_URL"] == "s3://acme-contact-center-lake"
    assert config["MESH_DOMAINS"] == "telephony", "the shipped overlay's keys must survive"
    assert _container(docs)["image"].startswith("123456789012.dkr.ecr.")
    account = _one(docs, "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        ":role/mesh-producer-telephony"
    )
    assert {doc["metadata"]["namespace"] for doc in docs} == {"contact-center-data"}
