"""Governance, step one: IAM policy documents generated from ``consumers.yaml`` and the lake layout.

Per consumer group, ``s3:GetObject`` on exactly the granted ``v{MAJOR}/`` folders (and those
majors' registry entries) and ``s3:ListBucket`` limited by an ``s3:prefix`` condition to the same;
per domain producer, read/write on its own data, dead letters and checkpoint, publish on its own
registry entries and ``kinesis:PutRecords`` on its own event streams (if any); and the IdP table
from scope to role. Pure: no I/O, no wildcard above a folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from producer.governance.areas import arn
from producer.governance.model import ConsumerGroup, GovernanceConfig, Grant
from producer.governance.ports import DomainPort, LakeLayout
from producer.lake.keys import LEASE_FILE, PUBLISHED_DIR

__all__ = [
    "IDP_TABLE",
    "STREAM_READ_ACTIONS",
    "GrantedRead",
    "Rendered",
    "consumer_file",
    "consumer_policy",
    "consumer_role",
    "documents_per_principal",
    "granted_reads",
    "producer_file",
    "producer_policy",
    "producer_role",
    "render",
]

IDP_TABLE = "idp-scope-roles.json"
STREAM_READ_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)
"""What a consumer granted a domain's ``events`` may do on its streams: poll them (enhanced
fan-out's ``SubscribeToShard`` acts on a registered consumer's ARN: the domain team grants it)."""
_VERSION = "2012-10-17"

PolicyDocument = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rendered:
    """Everything ``policies render`` writes: policy documents by file name, and the IdP table."""

    policies: Mapping[str, PolicyDocument]
    idp_table: Mapping[str, Any]

    def files(self) -> dict[str, str]:
        """File name → JSON text (2-space indent, final newline): same input, same bytes."""
        out = {name: _json(document) for name, document in self.policies.items()}
        out[IDP_TABLE] = _json(self.idp_table)
        return out


def consumer_role(group: str) -> str:
    """The IAM role a consumer group assumes: ``mesh-consumer-{group}``."""
    return f"mesh-consumer-{group}"


def producer_role(domain: str) -> str:
    """The IAM role a domain's producer runs as: ``mesh-producer-{domain}``."""
    return f"mesh-producer-{domain}"


def consumer_file(group: str) -> str:
    """The policy file of a consumer group: ``consumer-{group}.json``."""
    return f"consumer-{group}.json"


def producer_file(domain: str) -> str:
    """The policy file of a domain's producer: ``producer-{domain}.json``."""
    return f"producer-{domain}.json"


def render(config: GovernanceConfig, layout: LakeLayout) -> Rendered:
    """Every consumer group's and every producer's policy, and the IdP scope → role table.

    Raises ``KeyError`` for a granted domain the layout does not know (the model only accepts
    the producer's domains, so this is a programming error).
    """
    policies: dict[str, PolicyDocument] = {}
    scopes: dict[str, dict[str, Any]] = {}
    for name in sorted(config.consumers):
        group = config.consumers[name]
        policies[consumer_file(name)] = consumer_policy(group, layout, config.partition)
        scopes[group.idp_scope] = {
            "group": name,
            "role": consumer_role(name),
            "policy": consumer_file(name),
            "reads": {grant.domain: list(grant.majors) for grant in group.reads},
            "third_party": group.third_party,
        }
    for domain, port in layout.ports.items():
        policies[producer_file(domain)] = producer_policy(port, config.partition)
    table = {"version": 1, "scopes": dict(sorted(scopes.items()))}
    return Rendered(policies=policies, idp_table=table)


@dataclass(frozen=True, slots=True)
class GrantedRead:
    """One domain a consumer group reads, as every cloud renders it: a grant named ``name``
    (``Read{Domain}``) on the domain's ``bucket``, reaching the key ``prefixes`` of its majors'
    data, then their registry entries."""

    grant: Grant
    port: DomainPort

    @property
    def title(self) -> str:
        """The domain, capitalised, as the grant's names spell it."""
        return self.grant.domain.capitalize()

    @property
    def name(self) -> str:
        """``Read{Domain}``: the statement, assignment or binding that grants the reads."""
        return f"Read{self.title}"

    @property
    def bucket(self) -> str:
        """The bucket (or container) of the domain's product."""
        return self.port.bucket

    @property
    def prefixes(self) -> list[str]:
        """The key prefixes the grant reads: its majors' data, then their registry entries."""
        prefixes = [self.port.data(major) for major in self.grant.majors]
        return prefixes + [f"{self.port.registry_dir}{major}." for major in self.grant.majors]


def granted_reads(group: ConsumerGroup, layout: LakeLayout) -> list[GrantedRead]:
    """The domains ``group`` reads, in domain order."""
    return [
        GrantedRead(grant, layout.ports[grant.domain])
        for grant in sorted(group.reads, key=lambda grant: grant.domain)
    ]


def documents_per_principal(
    config: GovernanceConfig,
    layout: LakeLayout,
    consumer: Callable[[str, ConsumerGroup, LakeLayout], dict[str, Any]],
    producer: Callable[[DomainPort], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """File name → another cloud's document, for every consumer group and every producer
    (the same file names as the AWS policies)."""
    documents: dict[str, dict[str, Any]] = {}
    for name in sorted(config.consumers):
        documents[consumer_file(name)] = consumer(name, config.consumers[name], layout)
    for domain, port in layout.ports.items():
        documents[producer_file(domain)] = producer(port)
    return documents


def consumer_policy(group: ConsumerGroup, layout: LakeLayout, partition: str) -> PolicyDocument:
    """Read-only access to the granted majors of the granted domains, and nothing else.

    Per domain: ``Read{Domain}`` allows ``s3:GetObject`` on ``{base}/v{M}/*`` and on the
    registry entries ``_registry/{domain}/{M}.*``; ``List{Domain}`` allows ``s3:ListBucket`` on
    the domain's bucket only for those prefixes; ``Subscribe{Domain}``, for a grant with
    ``events``, ``STREAM_READ_ACTIONS`` on the domain's streams. Dead letters and state are never
    reachable.
    """
    statements: list[dict[str, Any]] = []
    for read in granted_reads(group, layout):
        patterns = [prefix + "*" for prefix in read.prefixes]
        statements.append(
            {
                "Sid": read.name,
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [arn(partition, read.bucket, pattern) for pattern in patterns],
            }
        )
        statements.append(_listing(f"List{read.title}", partition, read.bucket, patterns))
        if read.grant.events and read.port.streams:
            statements.append(
                {
                    "Sid": f"Subscribe{read.title}",
                    "Effect": "Allow",
                    "Action": list(STREAM_READ_ACTIONS),
                    "Resource": list(read.port.streams),
                }
            )
    return {"Version": _VERSION, "Statement": statements}


def producer_policy(port: DomainPort, partition: str) -> PolicyDocument:
    """What one domain's producer needs in its own prefix and registry folder, and no more.

    ``ProduceData``: get/put/delete parts under ``v*/`` and ``failed-records/`` (the writer
    replaces stale parts); ``KeepCheckpoint``: get/put ``_state/``; ``ReleaseLease``: delete the
    writer lease and old event-stream markers only (never the checkpoint); ``PublishContracts``:
    get/put
    its ``_registry/{domain}/`` entries (no delete: published versions are immutable);
    ``ListOwnProduct``: ``s3:ListBucket`` limited to those prefixes; ``PublishEvents``:
    ``kinesis:PutRecords`` on its own stream ARNs, when it has any.
    """
    bucket = port.bucket
    events = (
        [
            {
                "Sid": "PublishEvents",
                "Effect": "Allow",
                "Action": ["kinesis:PutRecords"],
                "Resource": list(port.streams),
            }
        ]
        if port.streams
        else []
    )
    return {
        "Version": _VERSION,
        "Statement": [
            {
                "Sid": "ProduceData",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                "Resource": [
                    arn(partition, bucket, port.data_any + "*"),
                    arn(partition, bucket, port.dead_letters + "*"),
                ],
            },
            {
                "Sid": "KeepCheckpoint",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [arn(partition, bucket, port.state + "*")],
            },
            {
                "Sid": "ReleaseLease",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject"],
                "Resource": [
                    arn(partition, bucket, port.state + LEASE_FILE),
                    arn(partition, bucket, port.state + PUBLISHED_DIR + "/*"),
                ],
            },
            {
                "Sid": "PublishContracts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": [arn(partition, bucket, port.registry_dir + "*")],
            },
            _listing(
                "ListOwnProduct", partition, bucket, [port.base + "/*", port.registry_dir + "*"]
            ),
            *events,
        ],
    }


def _listing(sid: str, partition: str, bucket: str, prefixes: list[str]) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [arn(partition, bucket)],
        "Condition": {"StringLike": {"s3:prefix": prefixes}},
    }


def _json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"
