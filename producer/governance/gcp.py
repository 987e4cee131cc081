"""Governance on Google Cloud: bucket IAM bindings with IAM Conditions, from ``consumers.yaml``.

``render_gcp`` writes, per consumer group and per domain producer, one document: a service
account, its bindings on the bucket (a predefined storage role restricted by an IAM Condition to
``resource.name`` prefixes of exactly the granted ``{prefix}/v{MAJOR}/`` paths and registry
entries, listing restricted to the same prefixes), and, for producers, the GKE workload-identity
binding of the domain's Kubernetes service account. ``lint_gcp`` reads such a document back:
rules of its own (a bucket resource, a condition on every binding, a known role, exact prefixes,
the right workload-identity member), then the AWS lint's rules on the equivalent S3 statements.
Pure: no I/O; ``${PROJECT_ID}`` is filled in by the deployment.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from producer.governance.areas import arn
from producer.governance.lint import Finding, Principal, Reading, Refused, lint_equivalent
from producer.governance.model import ConsumerGroup, GovernanceConfig
from producer.governance.ports import DomainPort, LakeLayout
from producer.governance.render import documents_per_principal, granted_reads

__all__ = [
    "GKE_NAMESPACE",
    "ROLES",
    "gcp_consumer",
    "gcp_producer",
    "lint_gcp",
    "render_gcp",
    "service_account",
]

GKE_NAMESPACE = "ccaas-mesh"
ROLES: dict[str, tuple[str, ...]] = {
    # predefined role → the S3 actions it amounts to on objects
    "roles/storage.objectViewer": ("s3:GetObject",),
    "roles/storage.objectUser": ("s3:DeleteObject", "s3:GetObject", "s3:PutObject"),
    "roles/storage.objectCreator": ("s3:PutObject",),
    "roles/storage.objectAdmin": ("s3:*",),
    "roles/storage.admin": ("s3:*",),
}
_LIST_PREFIX = 'api.getAttribute("storage.googleapis.com/objectListPrefix", "")'
_STARTS_WITH = re.compile(r'resource\.name\.startsWith\("(?P<value>[^"\\]*)"\)')
_LIST_STARTS_WITH = re.compile(re.escape(_LIST_PREFIX) + r'\.startsWith\("(?P<value>[^"\\]*)"\)')
_LOOSE = re.compile(r"\b(matches|endsWith|contains)\(|!=|\|\|\s*true\b")
_ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


def service_account(kind: str, name: str) -> str:
    """The service account's email: ``mesh-c-{group}`` or ``mesh-p-{domain}`` (a hash keeps it
    within GCP's 30 characters)."""
    account = f"mesh-{kind[0]}-{name}"
    if len(account) > 30:
        digest = hashlib.sha256(name.encode()).hexdigest()[:6]
        account = f"{account[:23].rstrip('-')}-{digest}"
    return f"{account}@${{PROJECT_ID}}.iam.gserviceaccount.com"


def render_gcp(config: GovernanceConfig, layout: LakeLayout) -> dict[str, dict[str, Any]]:
    """File name → document, for every consumer group and every producer (same names as AWS)."""
    return documents_per_principal(config, layout, gcp_consumer, gcp_producer)


def gcp_consumer(name: str, group: ConsumerGroup, layout: LakeLayout) -> dict[str, Any]:
    """The group's service account and one objectViewer binding per granted domain."""
    account = service_account("consumer", name)
    viewer = "roles/storage.objectViewer"
    return {
        "cloud": "gcp",
        "serviceAccount": {"email": account, "displayName": f"mesh consumer {name}"},
        "bindings": [
            _binding(read.name, account, viewer, read.bucket, read.prefixes)
            for read in granted_reads(group, layout)
        ],
        "idpScope": group.idp_scope,
    }


def gcp_producer(port: DomainPort) -> dict[str, Any]:
    """The producer's service account: objectUser on its own product, objectCreator and
    objectViewer on its registry folder (no delete: published contracts are immutable), and
    the GKE workload-identity binding of its Kubernetes service account."""
    account = service_account("producer", port.domain)
    bucket = port.bucket
    return {
        "cloud": "gcp",
        "serviceAccount": {"email": account, "displayName": f"mesh producer {port.domain}"},
        "bindings": [
            _binding(
                "ProduceOwnProduct", account, "roles/storage.objectUser", bucket, [port.base + "/"]
            ),
            _binding(
                "ReadOwnRegistry",
                account,
                "roles/storage.objectViewer",
                bucket,
                [port.registry_dir],
            ),
            _binding(
                "PublishContracts",
                account,
                "roles/storage.objectCreator",
                bucket,
                [port.registry_dir],
            ),
        ],
        "workloadIdentity": {
            "serviceAccount": account,
            "role": "roles/iam.workloadIdentityUser",
            "member": _workload_member(port.domain),
        },
    }


def lint_gcp(document: Any, reading: Reading) -> list[Finding]:
    """Findings for a GCP document as ``reading`` reads it: its own rules, then the AWS lint's
    rules on the equivalent S3 statements."""
    principal, partition = reading.principal, reading.config.partition
    account = service_account(principal.kind, principal.name)
    return lint_equivalent(
        document,
        reading,
        entries="bindings",
        cloud="a GCP",
        read=lambda where, binding: [_read_binding(where, binding, account, partition)],
        producer_rules=lambda whole: _workload_identity(whole, principal, account),
    )


def _workload_identity(
    document: dict[str, Any], principal: Principal, account: str
) -> list[Finding]:
    """A producer's GKE workload-identity binding: its own account, its domain's member."""
    findings: list[Finding] = []
    binding = document.get("workloadIdentity")
    member = binding.get("member") if isinstance(binding, dict) else None
    impersonated = binding.get("serviceAccount") if isinstance(binding, dict) else None
    if binding is not None and impersonated != account:
        findings.append(
            Finding(
                "foreign-principal",
                "workloadIdentity",
                f"serviceAccount {impersonated!r} is not this document's {account!r}: "
                "the Kubernetes service account would act as another principal",
            )
        )
    if binding is not None and member != _workload_member(principal.name):
        findings.append(
            Finding(
                "cross-domain-write",
                "workloadIdentity",
                f"member {member!r} is not producer {principal.name}'s service account "
                f"{_workload_member(principal.name)!r}",
            )
        )
    return findings


def _read_binding(where: str, binding: Any, account: str, partition: str) -> dict[str, Any]:
    """The S3 statement a binding amounts to; ``Refused`` at the first thing that makes it none,
    or not for ``account`` alone."""
    if not isinstance(binding, dict):
        raise Refused("malformed", where, "a binding must be an object")
    condition = binding.get("condition")
    title = condition.get("title", "") if isinstance(condition, dict) else ""
    where = f"{where} {title}".rstrip()
    role = binding.get("role")
    if role not in ROLES:
        raise Refused("outside-lake", where, f"role {role!r} is not a storage role")
    resource = binding.get("resource")
    bucket = resource.removeprefix("projects/_/buckets/") if isinstance(resource, str) else ""
    if not bucket or "/" in bucket or "*" in bucket:
        raise Refused(
            "wildcard-resource",
            where,
            f"resource {resource!r} is not one bucket: the binding would reach every bucket",
        )
    expression = condition.get("expression") if isinstance(condition, dict) else None
    if not isinstance(expression, str) or not expression.strip():
        raise Refused(
            "wildcard-resource",
            where,
            f"no IAM Condition: {role} reaches every object of bucket {bucket!r}",
        )
    objects = f"projects/_/buckets/{bucket}/objects/"
    reads = [found["value"] for found in _STARTS_WITH.finditer(expression)]
    listings = [found["value"] for found in _LIST_STARTS_WITH.finditer(expression)]
    prefixes = reads + [objects + listing for listing in listings]
    foreign = [prefix for prefix in prefixes if not prefix.startswith(objects)]
    loose = _LOOSE.search(expression)
    if loose is not None or foreign or not prefixes:
        detail = f"found {loose[0]!r}" if loose else f"not in {objects!r}: {foreign}"
        raise Refused(
            "wildcard-resource",
            where,
            "the condition must restrict resource.name to exact object prefixes "
            f"with startsWith ({detail if loose or foreign else 'none found'})",
        )
    read_keys = [prefix[len(objects) :] for prefix in reads]
    if _expression(bucket, read_keys, listings) != expression:
        raise Refused(
            "wildcard-resource",
            where,
            "not the condition render writes for its prefixes: only "
            'resource.name.startsWith("...") terms, then one listing term on the bucket, '
            "joined by || may restrict a storage role (anything else may open the bucket)",
        )
    members = binding.get("members")
    if members != [f"serviceAccount:{account}"]:
        raise Refused(
            "foreign-principal",
            where,
            f"members {members!r} are not this document's service account "
            f"['serviceAccount:{account}'] alone",
        )
    keys = dict.fromkeys(prefix[len(objects) :] for prefix in prefixes)
    return {
        "Sid": title,
        "Effect": "Allow",
        "Action": list(ROLES[role]),
        "Resource": [arn(partition, bucket, key + "*") for key in keys],
    }


def _binding(
    title: str, account: str, role: str, bucket: str, prefixes: list[str]
) -> dict[str, Any]:
    return {
        "resource": f"projects/_/buckets/{bucket}",
        "role": role,
        "members": [f"serviceAccount:{account}"],
        "condition": {
            "title": title,
            "description": f"{role} on {', '.join(prefixes)} only",
            "expression": _expression(bucket, prefixes, prefixes),
        },
    }


def _expression(bucket: str, reads: list[str], listings: list[str]) -> str:
    """Objects under ``reads``, and listings of the bucket by a prefix under ``listings``: the
    one form of condition render writes and lint accepts (lint rebuilds it and compares)."""
    objects = f"projects/_/buckets/{bucket}/objects/"
    terms = [f'resource.name.startsWith("{objects}{prefix}")' for prefix in reads]
    listing = " || ".join(f'{_LIST_PREFIX}.startsWith("{prefix}")' for prefix in listings)
    return " || ".join([*terms, f'(resource.name == "projects/_/buckets/{bucket}" && ({listing}))'])


def _workload_member(domain: str) -> str:
    return f"serviceAccount:${{PROJECT_ID}}.svc.id.goog[{GKE_NAMESPACE}/{domain}-mesh-producer]"
