"""Governance, step two: findings about a policy document, rendered here or written by hand.

``lint_policy()`` reads an IAM policy as a ``Reading`` says (as the principal it is for, a consumer
group or a domain producer, against ``consumers.yaml`` and the lake layout, on a day) and reports
wildcards, resources outside the lake's products, writes by consumers, dead-letter reads,
ungranted reads, unscoped listings, cross-domain reach, and groups reading several domains
without an unexpired approval. ``clouds.lint_rendered()`` does it for every policy ``render``
made: the gate both ``policies render`` (which writes nothing past a finding) and ``policies
lint`` apply. Pure: the caller reads the files and prints ``Finding.line()``; Deny statements
only restrict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from producer.errors import ConfigError
from producer.governance.areas import Area, Unplaced, parse_s3_arn, place
from producer.governance.model import ConsumerGroup, GovernanceConfig
from producer.governance.ports import LakeLayout

__all__ = [
    "Finding",
    "FindingKind",
    "Principal",
    "Reading",
    "Refused",
    "lint_equivalent",
    "lint_policy",
]

FindingKind = Literal[
    "malformed",
    "wildcard-action",
    "wildcard-resource",
    "outside-lake",
    "bucket-action",
    "unscoped-list",
    "consumer-write",
    "dead-letter-access",
    "not-granted",
    "unknown-group",
    "cross-domain-read",
    "cross-domain-write",
    "third-party-internal",
    "registry-delete",
    "foreign-principal",
]

_FILE_RE = re.compile(r"^(?P<kind>consumer|producer)-(?P<name>[a-z0-9][a-z0-9-]*)\.json$")
_LIST_ACTIONS = frozenset({"s3:listbucket", "s3:listbucketversions"})
_READ_PREFIXES = (
    "s3:get",
    "s3:list",
    "s3:describe",
    "kinesis:get",
    "kinesis:list",
    "kinesis:describe",
    "kinesis:subscribetoshard",
)
_STREAM_RE = re.compile(r"^arn:(?P<partition>[a-z-]+):kinesis:[^:]*:[^:]*:stream/(?P<name>.+)$")
_PREFIX_OPERATORS = frozenset({"stringlike", "stringequals"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Whom a policy is for: a consumer group or a domain's producer (``consumer:NAME``)."""

    kind: Literal["consumer", "producer"]
    name: str

    @classmethod
    def parse(cls, text: str) -> Principal:
        """``consumer:GROUP`` or ``producer:DOMAIN``; ``ConfigError`` for anything else."""
        kind, _, name = text.partition(":")
        if kind == "consumer" and name:
            return cls("consumer", name)
        if kind == "producer" and name:
            return cls("producer", name)
        raise ConfigError(f"--as: expected consumer:GROUP or producer:DOMAIN, got {text!r}")

    @classmethod
    def from_file_name(cls, name: str) -> Principal | None:
        """The principal a rendered file is for (``consumer-GROUP.json``), else None."""
        match = _FILE_RE.match(name)
        if match is None:
            return None
        return cls("consumer" if match["kind"] == "consumer" else "producer", match["name"])


@dataclass(frozen=True, slots=True)
class Reading:
    """Who reads a policy document and against what: the ``principal`` it is for, the governance
    file (``config``) and lake ``layout`` it is checked against, and ``today``, the day that
    decides which approvals have expired. Every lint, of every cloud, takes one with the document.
    """

    principal: Principal
    config: GovernanceConfig
    layout: LakeLayout
    today: date


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: its kind, where (``Statement[1] ReadWfm`` or ``policy``) and what is wrong."""

    kind: FindingKind
    where: str
    message: str

    def line(self, source: str) -> str:
        """The one output line: ``{source}: {kind}: {where}: {message}``."""
        return f"{source}: {self.kind}: {self.where}: {self.message}"


def lint_policy(document: Any, reading: Reading) -> list[Finding]:
    """Every finding for ``document`` read as ``reading.principal``'s policy, in document order.

    ``reading.today`` decides which approvals are expired (an approval is valid through its
    ``expires`` day). Never raises for a malformed document: that is a ``malformed`` finding.
    """
    check = _Check(reading)
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        check.add("malformed", "policy", "no Statement list: not an IAM policy document")
        return check.findings
    for index, statement in enumerate(statements):
        check.statement(index, statement)
    check.finish()
    return check.findings


class Refused(Exception):
    """An entry of a cloud's document that cannot be read as S3 statements: its one finding.

    Raised as ``Refused(kind, where, message)``; the finding is built here, once.
    """

    def __init__(self, kind: FindingKind, where: str, message: str) -> None:
        super().__init__(message)
        self.finding = Finding(kind, where, message)


def lint_equivalent(
    document: Any,
    reading: Reading,
    *,
    entries: str,
    cloud: str,
    read: Callable[[str, Any], Sequence[dict[str, Any]]],
    producer_rules: Callable[[dict[str, Any]], list[Finding]],
) -> list[Finding]:
    """Findings for another cloud's document (its grants in the list ``document[entries]``) read
    as ``reading.principal``'s: ``read(where, entry)`` gives the S3 statements one entry amounts
    to or raises ``Refused``; then ``producer_rules(document)`` for a producer; then ``lint_policy``
    on the equivalent statements."""
    listed = document.get(entries) if isinstance(document, dict) else None
    if not isinstance(document, dict) or not isinstance(listed, list) or not listed:
        return [Finding("malformed", "policy", f"no {entries} list: not {cloud} document")]
    findings: list[Finding] = []
    statements: list[dict[str, Any]] = []
    for index, entry in enumerate(listed):
        try:
            statements.extend(read(f"{entries}[{index}]", entry))
        except Refused as refused:
            findings.append(refused.finding)
    if reading.principal.kind == "producer":
        findings.extend(producer_rules(document))
    if statements:
        findings.extend(lint_policy({"Statement": statements}, reading))
    return findings


@dataclass
class _Check:
    reading: Reading
    findings: list[Finding] = field(default_factory=list)
    read_domains: set[str] = field(default_factory=set)
    group: ConsumerGroup | None = None

    def __post_init__(self) -> None:
        principal = self.reading.principal
        if principal.kind == "consumer":
            self.group = self.reading.config.consumers.get(principal.name)
            if self.group is None:
                self.add(
                    "unknown-group",
                    "policy",
                    f"no consumer group {principal.name!r} in the governance file",
                )
        elif principal.name not in self.reading.layout.ports:
            self.add("malformed", "policy", f"no domain {principal.name!r} in this lake")

    def add(self, kind: FindingKind, where: str, message: str) -> None:
        finding = Finding(kind, where, message)
        if finding not in self.findings:
            self.findings.append(finding)

    def statement(self, index: int, statement: Any) -> None:
        if not isinstance(statement, dict):
            self.add("malformed", f"Statement[{index}]", "a statement must be an object")
            return
        sid = statement.get("Sid")
        where = f"Statement[{index}]" + (f" {sid}" if isinstance(sid, str) and sid else "")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            self.add("malformed", where, "Effect must be Allow or Deny")
            return
        if effect == "Deny":
            return  # a Deny only takes access away
        if "NotAction" in statement:
            self.add("wildcard-action", where, "NotAction allows every action it does not name")
        if "NotResource" in statement:
            self.add("wildcard-resource", where, "NotResource allows every other resource")
        actions = _strings(statement.get("Action"))
        resources = _strings(statement.get("Resource"))
        if actions is None or resources is None:
            if "NotAction" not in statement and "NotResource" not in statement:
                self.add("malformed", where, "Action and Resource must be strings or lists")
            return
        writes = self._actions(where, actions)
        listing = [action for action in actions if action.lower() in _LIST_ACTIONS]
        for resource in resources:
            self._resource(where, resource, writes, listing, statement.get("Condition"))

    def _actions(self, where: str, actions: list[str]) -> list[str]:
        """Flag wildcard and non-S3 actions; return the actions that may change something.

        A wildcard that is not confined to reads (``s3:*``, ``s3:Put*``) counts as a write.
        """
        writes = []
        for action in actions:
            low = action.lower()
            if "*" in action or "?" in action:
                self.add("wildcard-action", where, f"{action!r}: name each action instead")
                if not low.startswith(_READ_PREFIXES):
                    writes.append(action)
            elif not low.startswith(("s3:", "kinesis:")):
                self.add("outside-lake", where, f"{action!r} is not an action on the lake")
            elif not low.startswith(_READ_PREFIXES):
                writes.append(action)
        if writes and self.reading.principal.kind == "consumer":
            self.add("consumer-write", where, f"{', '.join(writes)}: consumers only read")
        return writes

    def _resource(
        self, where: str, resource: str, writes: list[str], listing: list[str], condition: Any
    ) -> None:
        if resource == "*":
            self.add("wildcard-resource", where, "Resource '*' is every bucket of the account")
            return
        if _STREAM_RE.match(resource):
            self._stream(where, resource, writes)
            return
        parsed = parse_s3_arn(resource)
        if parsed is None:
            kind: FindingKind = "wildcard-resource" if "*" in resource else "outside-lake"
            self.add(kind, where, f"{resource!r} is not an S3 bucket or object of the lake")
            return
        partition, bucket, key = parsed
        if partition != self.reading.config.partition:
            expected = self.reading.config.partition
            self.add("outside-lake", where, f"{resource!r} is not in partition {expected}")
            return
        if "*" in bucket or "?" in bucket:
            self.add("wildcard-resource", where, f"{resource!r}: the bucket name is a wildcard")
            return
        if key is None:
            self._bucket(where, bucket, writes, listing=listing, condition=condition)
            return
        self._area(where, resource, place(self.reading.layout, bucket, key), writes)

    def _bucket(
        self, where: str, bucket: str, writes: list[str], *, listing: list[str], condition: Any
    ) -> None:
        if bucket not in self.reading.layout.buckets:
            self.add("outside-lake", where, f"bucket {bucket!r} holds no data product of this lake")
            return
        administrative = [action for action in writes if "bucket" in action.lower()]
        if administrative:
            self.add(
                "bucket-action",
                where,
                f"{', '.join(administrative)} on bucket {bucket!r}: products act on keys only",
            )
        if not listing:
            return
        prefixes = _listing_prefixes(condition)
        if prefixes is None:
            self.add(
                "unscoped-list",
                where,
                f"s3:ListBucket on {bucket!r} without an s3:prefix condition lists every key",
            )
            return
        for prefix in prefixes:
            pattern = prefix if prefix.endswith("*") else prefix + "*"
            area = place(self.reading.layout, bucket, pattern)
            self._area(where, f"listing {prefix!r}", area, [])

    def _stream(self, where: str, resource: str, writes: list[str]) -> None:
        """An event stream: a producer's own only; a consumer's if granted the domain's events."""
        if "*" in resource or "?" in resource:
            self.add("wildcard-resource", where, f"{resource!r}: name each stream")
            return
        ports = self.reading.layout.ports.values()
        owner = next((p.domain for p in ports if resource in p.streams), None)
        if owner is None:
            self.add("outside-lake", where, f"{resource!r} is no stream of this lake's domains")
        elif self.reading.principal.kind == "consumer":
            self.read_domains.add(owner)  # the cross-domain and internal-only rules apply
            if self.group is not None and not self.group.reads_events(owner):
                name = self.reading.principal.name
                self.add(
                    "not-granted", where, f"{resource!r}: {name} is not granted {owner} events"
                )
        elif owner != self.reading.principal.name:
            kind: FindingKind = "cross-domain-write" if writes else "cross-domain-read"
            own = self.reading.principal.name
            self.add(
                kind, where, f"{resource!r} is {owner}'s stream: producer {own} keeps to its own"
            )

    def _area(self, where: str, what: str, area: Area | Unplaced, writes: list[str]) -> None:
        if isinstance(area, Unplaced):
            kind: FindingKind = "outside-lake"
            if area.reason == "too-broad":
                kind = "wildcard-resource"
            self.add(kind, where, f"{what}: {area.detail}")
            return
        if self.reading.principal.kind == "producer":
            self._producer_area(where, what, area, writes)
        else:
            self._consumer_area(where, what, area)

    def _producer_area(self, where: str, what: str, area: Area, writes: list[str]) -> None:
        own = self.reading.principal.name
        if area.domain != own:
            kind: FindingKind = "cross-domain-write" if writes else "cross-domain-read"
            self.add(kind, where, f"{what} is {area.describe()}: producer {own} keeps to its own")
        elif area.kind == "registry" and any("delete" in action.lower() for action in writes):
            self.add("registry-delete", where, f"{what}: published contracts are immutable")

    def _consumer_area(self, where: str, what: str, area: Area) -> None:
        group, name = self.group, self.reading.principal.name
        if area.kind != "registry":
            self.read_domains.add(area.domain)
        if area.kind in ("dead-letters", "product"):
            self.add(
                "dead-letter-access",
                where,
                f"{what} reaches {area.domain} dead letters (failed-records/): raw source "
                "objects are for the producing team only",
            )
        elif area.kind == "state":
            self.add("not-granted", where, f"{what} is {area.describe()}: the producer's own")
        elif group is None:
            return
        elif area.domain not in group.domains:
            self.add("not-granted", where, f"{what}: {name} is not granted {area.domain}")
        elif area.kind == "data" and area.major not in group.majors(area.domain):
            granted = ", ".join(f"v{major}" for major in group.majors(area.domain))
            self.add(
                "not-granted", where, f"{what} is {area.describe()}: {name} reads {granted} only"
            )

    def finish(self) -> None:
        if self.reading.principal.kind != "consumer":
            return
        name, group = self.reading.principal.name, self.group
        internal = sorted(self.read_domains & set(self.reading.config.internal_domains))
        if group is not None and group.third_party:
            for domain in internal:
                self.add(
                    "third-party-internal",
                    "policy",
                    f"{name} is a third party and {domain} is internal-only",
                )
        if len(self.read_domains) < 2:
            return
        domains = frozenset(self.read_domains)
        approvals = group.approvals if group is not None else ()
        today = self.reading.today
        if any(approval.covers(domains, today) for approval in approvals):
            return
        message = f"{name} reads {', '.join(sorted(domains))} together without an approval"
        lapsed = [a for a in approvals if a.covers(domains, a.expires) and a.expires < today]
        if lapsed:
            message += f" (approval {lapsed[0].use_case!r} expired {lapsed[0].expires.isoformat()})"
        self.add("cross-domain-read", "policy", message)


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def _listing_prefixes(condition: Any) -> list[str] | None:
    """The ``s3:prefix`` values of StringLike/StringEquals conditions; None when there are none."""
    if not isinstance(condition, dict):
        return None
    found: list[str] = []
    for operator, clauses in condition.items():
        if str(operator).lower() not in _PREFIX_OPERATORS or not isinstance(clauses, dict):
            continue
        for key, values in clauses.items():
            if str(key).lower() == "s3:prefix":
                found.extend(_strings(values) or [])
    return found or None
