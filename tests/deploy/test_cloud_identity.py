"""Kubernetes on AKS and GKE: the workload-identity components beside IRSA, through the two
examples that use them (``examples/telephony-aks``, ``examples/telephony-gke``).

Each renders with the real ``kubectl kustomize``, validates with ``kubernetes-validate --strict``,
drops the IRSA annotation for its cloud's, and names the very service account that the rendered
governance federates (``policies render --cloud azure|gcp``), so the identity chain closes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from producer.governance.azure import azure_producer
from producer.governance.gcp import gcp_producer
from producer.governance.ports import build_layout
from producer.settings import LakeLocation
from tests.deploy.artifacts import render
from tests.deploy.tools import K8S_VERSIONS, run_tool

EXAMPLES = ("telephony-aks", "telephony-gke")


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


@pytest.fixture(scope="module")
def examples() -> dict[str, list[dict[str, Any]]]:
    return {name: render(f"examples/{name}") for name in EXAMPLES}


def test_examples_validate_strictly(
    examples: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The core objects of both examples pass kubernetes-validate --strict, on the oldest and
    the newest Kubernetes version the overlays are validated against."""
    files, count = [], 0
    for name, docs in examples.items():
        core = [doc for doc in docs if not doc["apiVersion"].startswith("monitoring.coreos.com/")]
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(core))
        files.append(str(path))
        count += len(core)
    for version in K8S_VERSIONS:
        result = run_tool("kubernetes-validate", "--strict", "-k", version, *files)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "WARN" not in output, output
        assert output.count(" passed ") == count, output


def test_aks_pod_federates_the_identity_the_governance_renders(
    examples: dict[str, list[dict[str, Any]]],
) -> None:
    """AKS: client-id annotation instead of IRSA's, the webhook's pod label, an az:// lake, and
    the service account is the subject of the rendered federated credential."""
    docs = examples["telephony-aks"]
    account = _one(docs, "ServiceAccount")
    annotations = account["metadata"]["annotations"]
    assert set(annotations) == {"azure.workload.identity/client-id"}
    labels = _one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    config = _one(docs, "ConfigMap")["data"]
    assert LakeLocation.parse(config["MESH_LAKE_URL"]).scheme == "az"
    assert config["AZURE_STORAGE_ACCOUNT"]
    layout = build_layout(config["MESH_LAKE_URL"], {"telephony": ("telephony-cdr-export", None)})
    (credential,) = azure_producer(layout.ports["telephony"])["federatedCredentials"]
    meta = account["metadata"]
    assert credential["subject"] == f"system:serviceaccount:{meta['namespace']}:{meta['name']}"


def test_gke_pod_acts_as_the_service_account_the_governance_renders(
    examples: dict[str, list[dict[str, Any]]],
) -> None:
    """GKE: the gcp-service-account annotation instead of IRSA's, a gs:// lake, and the Kubernetes
    service account is the member of the rendered workload-identity binding."""
    docs = examples["telephony-gke"]
    account = _one(docs, "ServiceAccount")
    annotations = account["metadata"]["annotations"]
    assert set(annotations) == {"iam.gke.io/gcp-service-account"}
    assert annotations["iam.gke.io/gcp-service-account"].startswith("mesh-p-telephony@")
    config = _one(docs, "ConfigMap")["data"]
    assert LakeLocation.parse(config["MESH_LAKE_URL"]).scheme == "gs"
    layout = build_layout(config["MESH_LAKE_URL"], {"telephony": ("telephony-cdr-export", None)})
    member = gcp_producer(layout.ports["telephony"])["workloadIdentity"]["member"]
    meta = account["metadata"]
    assert member.endswith(f".svc.id.goog[{meta['namespace']}/{meta['name']}]")


def _egress_to(docs: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """(CIDR, port) of every egress rule of the NetworkPolicy that names an ipBlock."""
    rules = _one(docs, "NetworkPolicy")["spec"]["egress"]
    return {
        (peer["ipBlock"]["cidr"], port["port"])
        for rule in rules
        for peer in rule.get("to", [])
        if "ipBlock" in peer
        for port in rule.get("ports", [])
    }


def test_gke_pod_may_reach_the_metadata_server_and_nothing_more(
    examples: dict[str, list[dict[str, Any]]],
) -> None:
    """GKE: Application Default Credentials come from the GKE metadata server, which the base
    NetworkPolicy (DNS and 443 only) blocks; the component opens exactly 169.254.169.254:80 and
    169.254.169.252:988. AKS needs none of it: its token exchange goes to Entra ID over 443."""
    gke = _egress_to(examples["telephony-gke"])
    assert gke == {("169.254.169.254/32", 80), ("169.254.169.252/32", 988)}
    assert _egress_to(examples["telephony-aks"]) == set()
    rules = _one(examples["telephony-gke"], "NetworkPolicy")["spec"]["egress"]
    assert all(rule.get("to") and rule.get("ports") for rule in rules if "to" in rule)
