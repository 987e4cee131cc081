"""Governance on Azure: role assignments with ABAC conditions, from ``consumers.yaml`` and the lake.

``render_azure`` writes, per consumer group and per domain producer, one document: a user-assigned
managed identity, its role assignments (a built-in blob data role scoped to one container and
restricted by an ABAC condition to exactly the granted ``{prefix}/v{MAJOR}/`` paths and registry
entries) and, for producers, the AKS workload-identity federated credential of the domain's
Kubernetes service account. ``lint_azure`` reads such a document back: structural rules of its
own (a container scope, a condition on every assignment, a known role, exact prefixes), then the
same rules as the AWS lint by translating each assignment to the S3 statement it is equivalent
to. Pure: no I/O; placeholders (``${SUBSCRIPTION_ID}`` ...) are filled in by the deployment.
"""

from __future__ import annotations

import re
from typing import Any

from producer.governance.areas import arn
from producer.governance.lint import Finding, Principal, Reading, Refused, lint_equivalent
from producer.governance.model import ConsumerGroup, GovernanceConfig
from producer.governance.ports import DomainPort, LakeLayout
from producer.governance.render import (
    consumer_role,
    documents_per_principal,
    granted_reads,
    producer_role,
)
from producer.lake.keys import LEASE_FILE, PUBLISHED_DIR

__all__ = [
    "AKS_NAMESPACE",
    "ROLES",
    "azure_consumer",
    "azure_producer",
    "lint_azure",
    "render_azure",
]

AKS_NAMESPACE = "ccaas-mesh"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs"
ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    # name → (built-in role definition id, the blob data actions it grants)
    "Storage Blob Data Reader": ("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", ("read",)),
    "Storage Blob Data Contributor": (
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        ("read", "write", "delete", "add/action", "move/action"),
    ),
    "Storage Blob Data Owner": ("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", ("*",)),
}
# What each blob data action amounts to on S3, for the shared lint rules.
_S3_ACTIONS = {
    "read": "s3:GetObject",
    "write": "s3:PutObject",
    "add/action": "s3:PutObject",
    "move/action": "s3:PutObject",
    "delete": "s3:DeleteObject",
    "*": "s3:*",
}
_ACCOUNT_SCOPE = (
    "/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/${RESOURCE_GROUP}"
    "/providers/Microsoft.Storage/storageAccounts/${STORAGE_ACCOUNT}"
)
_CONTAINER_SCOPE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Storage/"
    r"storageAccounts/[^/]+/blobServices/default/containers/(?P<container>[^/]+)$"
)
_PATH = f"@Resource[{_BLOBS}:path]"
_LIST_PREFIX = f"@Request[{_BLOBS}:prefix]"
_STARTS_WITH = re.compile(r"StringStartsWith\s+'(?P<value>[^'\\]*)'")
# One clause as ``_clause`` writes it; the lint rebuilds the whole condition from these and
# compares texts, so anything else in a condition (another OR, another attribute) is refused.
_CLAUSE = re.compile(
    r"\(\(!\(ActionMatches\{'" + re.escape(_BLOBS) + r"/(?P<action>[a-z/]+)'\}"
    r"(?P<sub> AND SubOperationMatches\{'Blob\.List'\}"
    r"| AND NOT SubOperationMatches\{'Blob\.List'\})?\)\) OR \((?P<allowed>[^()]*)\)\)"
)
_SUB_OPERATIONS: dict[str | None, bool | None] = {
    None: None,
    " AND SubOperationMatches{'Blob.List'}": True,
    " AND NOT SubOperationMatches{'Blob.List'}": False,
}
_OTHER_OPERATORS = re.compile(r"\b(StringLike|StringNotLike|StringNotStartsWith|StringNotEquals)\b")
_FEDERATION_AUDIENCE = "api://AzureADTokenExchange"


def render_azure(config: GovernanceConfig, layout: LakeLayout) -> dict[str, dict[str, Any]]:
    """File name → document, for every consumer group and every producer (same names as AWS)."""
    return documents_per_principal(config, layout, azure_consumer, azure_producer)


def azure_consumer(name: str, group: ConsumerGroup, layout: LakeLayout) -> dict[str, Any]:
    """The group's identity and one Storage Blob Data Reader assignment per granted domain."""
    identity = consumer_role(name)
    reader = "Storage Blob Data Reader"
    return {
        "cloud": "azure",
        "identity": _identity(identity),
        "roleAssignments": [
            _assignment(read.name, identity, reader, read.bucket, _read_condition(read.prefixes))
            for read in granted_reads(group, layout)
        ],
        "idpScope": group.idp_scope,
    }


def azure_producer(port: DomainPort) -> dict[str, Any]:
    """The producer's identity, Storage Blob Data Contributor on its own product and registry
    folder only (no delete in the registry, nor of the checkpoint: deletes reach parts, the
    writer lease and old event-stream markers), and its AKS federated credential."""
    identity = producer_role(port.domain)
    own = [port.base + "/", port.registry_dir]
    deletable = [
        port.data_any,
        port.dead_letters,
        port.state + LEASE_FILE,
        port.state + PUBLISHED_DIR + "/",
    ]
    condition = " AND ".join(
        [
            _clause(f"{_BLOBS}/read", own, sub_operation=False),
            _clause(f"{_BLOBS}/read", own, sub_operation=True),
            _clause(f"{_BLOBS}/write", own),
            _clause(f"{_BLOBS}/add/action", own),
            _clause(f"{_BLOBS}/move/action", own),
            _clause(f"{_BLOBS}/delete", deletable),
        ]
    )
    return {
        "cloud": "azure",
        "identity": _identity(identity),
        "roleAssignments": [
            _assignment(
                "ProduceOwnProduct",
                identity,
                "Storage Blob Data Contributor",
                port.bucket,
                condition,
            )
        ],
        "federatedCredentials": [
            {
                "name": f"{identity}-aks",
                "identity": identity,
                "issuer": "${AKS_OIDC_ISSUER}",
                "subject": f"system:serviceaccount:{AKS_NAMESPACE}:{port.domain}-mesh-producer",
                "audiences": [_FEDERATION_AUDIENCE],
            }
        ],
    }


def lint_azure(document: Any, reading: Reading) -> list[Finding]:
    """Findings for an Azure document as ``reading`` reads it: its own structural rules, then
    the AWS lint's rules on the equivalent S3 statements (``Statement[i]`` = assignment ``i``)."""
    principal, partition = reading.principal, reading.config.partition
    identity = _identity_of(principal)
    return lint_equivalent(
        document,
        reading,
        entries="roleAssignments",
        cloud="an Azure",
        read=lambda where, assignment: _read_assignment(where, assignment, identity, partition),
        producer_rules=lambda whole: _federation(whole, principal),
    )


def _read_assignment(
    where: str, assignment: Any, expected: str, partition: str
) -> list[dict[str, Any]]:
    """The S3 statements an assignment amounts to (one per data action it grants);
    ``Refused`` at the first thing that makes it none, or not for the identity ``expected``."""
    if not isinstance(assignment, dict):
        raise Refused("malformed", where, "a role assignment must be an object")
    sid = assignment.get("name") if isinstance(assignment.get("name"), str) else ""
    where = f"{where} {sid}".rstrip()
    role = assignment.get("roleDefinitionName")
    if role not in ROLES:
        raise Refused("outside-lake", where, f"role {role!r} is not a blob data role we grant")
    role_id = assignment.get("roleDefinitionId")
    if role_id != ROLES[role][0]:
        raise Refused(
            "outside-lake",
            where,
            f"roleDefinitionId {role_id!r} is not {role}'s {ROLES[role][0]!r}: "
            "the assignment would grant another role",
        )
    scope = assignment.get("scope")
    match = _CONTAINER_SCOPE.match(scope) if isinstance(scope, str) else None
    if match is None:
        raise Refused(
            "wildcard-resource",
            where,
            f"scope {scope!r} is not one container: the role would reach every container",
        )
    condition = assignment.get("condition")
    if not isinstance(condition, str) or not condition.strip():
        raise Refused(
            "wildcard-resource",
            where,
            f"no ABAC condition: {role} reaches every blob of container {match['container']!r}",
        )
    clauses = _clauses(condition)
    granted = ROLES[role][1]
    other = _OTHER_OPERATORS.search(condition)
    loose = [action for action in granted if not _restricted(action, clauses)]
    if other is not None or loose:
        detail = f"found {other[0]}" if other else f"{', '.join(loose)} not restricted"
        raise Refused(
            "wildcard-resource",
            where,
            f"the condition must restrict every {role} action to blob paths with "
            f"StringStartsWith on exact prefixes ({detail})",
        )
    canonical = " AND ".join(
        _clause(f"{_BLOBS}/{action}", prefixes, sub_operation=sub)
        for action, sub, prefixes in clauses
    )
    if canonical != condition:
        raise Refused(
            "wildcard-resource",
            where,
            "not the condition render writes for its prefixes: only clauses "
            "'((!(ActionMatches{...})) OR (<path> StringStartsWith ...))' joined by AND "
            "may restrict a blob data role (anything else may open the container)",
        )
    principal_found = assignment.get("principal")
    if principal_found != expected:
        raise Refused(
            "foreign-principal",
            where,
            f"principal {principal_found!r} is not this document's identity {expected!r}",
        )
    actions: dict[str, list[str]] = {}
    for action, _, prefixes in clauses:
        actions.setdefault(action, []).extend(prefixes)
    return [
        {
            "Sid": f"{sid} {action}".strip(),
            "Effect": "Allow",
            "Action": [_S3_ACTIONS[action]],
            "Resource": [
                arn(partition, match["container"], prefix + "*")
                for prefix in dict.fromkeys(actions[action])
            ],
        }
        for action in granted
    ]


def _clauses(condition: str) -> list[tuple[str, bool | None, list[str]]]:
    """Each clause of ``condition`` that ``_clause`` could have written, in order, as (action,
    sub-operation, prefixes): the pieces ``_read_assignment`` rebuilds the condition from."""
    return [
        (
            clause["action"],
            _SUB_OPERATIONS[clause["sub"]],
            [found["value"] for found in _STARTS_WITH.finditer(clause["allowed"])],
        )
        for clause in _CLAUSE.finditer(condition)
    ]


def _restricted(action: str, clauses: list[tuple[str, bool | None, list[str]]]) -> bool:
    """Whether some clause restricts every use of ``action``: one clause for all of it, or
    one for its listings and one for the rest."""
    subs = {sub for found, sub, prefixes in clauses if found == action and prefixes}
    return None in subs or {True, False} <= subs


def _identity_of(principal: Principal) -> str:
    if principal.kind == "consumer":
        return consumer_role(principal.name)
    return producer_role(principal.name)


def _federation(document: dict[str, Any], principal: Principal) -> list[Finding]:
    expected = f"system:serviceaccount:{AKS_NAMESPACE}:{principal.name}-mesh-producer"
    identity = _identity_of(principal)
    credentials = document.get("federatedCredentials")
    if not isinstance(credentials, list):
        return []
    findings = []
    for index, credential in enumerate(credentials):
        where = f"federatedCredentials[{index}]"
        subject = credential.get("subject") if isinstance(credential, dict) else None
        trusted = credential.get("identity") if isinstance(credential, dict) else None
        if trusted != identity:
            findings.append(
                Finding(
                    "foreign-principal",
                    where,
                    f"identity {trusted!r} is not this document's identity {identity!r}: "
                    "its service account would act as another principal",
                )
            )
        if subject != expected:
            findings.append(
                Finding(
                    "cross-domain-write",
                    where,
                    f"subject {subject!r} is not producer {principal.name}'s service account "
                    f"{expected!r}",
                )
            )
    return findings


def _identity(name: str) -> dict[str, str]:
    return {
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
        "name": name,
        "resourceGroup": "${RESOURCE_GROUP}",
    }


def _assignment(
    name: str, identity: str, role: str, container: str, condition: str
) -> dict[str, Any]:
    return {
        "name": name,
        "principal": identity,
        "principalType": "ServicePrincipal",
        "roleDefinitionName": role,
        "roleDefinitionId": ROLES[role][0],
        "scope": f"{_ACCOUNT_SCOPE}/blobServices/default/containers/{container}",
        "conditionVersion": "2.0",
        "condition": condition,
    }


def _read_condition(prefixes: list[str]) -> str:
    """Reads (and listings) of blobs under ``prefixes`` only."""
    return " AND ".join(
        [
            _clause(f"{_BLOBS}/read", prefixes, sub_operation=False),
            _clause(f"{_BLOBS}/read", prefixes, sub_operation=True),
        ]
    )


def _clause(action: str, prefixes: list[str], *, sub_operation: bool | None = None) -> str:
    """``(!(action) OR attribute StringStartsWith p1 OR ...)``: the action only under prefixes.

    ``sub_operation`` splits a blob read (False: get, on the blob's path) from a listing
    (True: ``Blob.List``, on the request's prefix).
    """
    matcher = f"ActionMatches{{'{action}'}}"
    attribute = _PATH
    if sub_operation is True:
        matcher += " AND SubOperationMatches{'Blob.List'}"
        attribute = _LIST_PREFIX
    elif sub_operation is False:
        matcher += " AND NOT SubOperationMatches{'Blob.List'}"
    allowed = " OR ".join(f"{attribute} StringStartsWith '{prefix}'" for prefix in prefixes)
    return f"((!({matcher})) OR ({allowed}))"
