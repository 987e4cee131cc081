"""Governance of the event streams (AWS): the producer may put records on its own stream only.

The layout reads each domain's ``MESH_{DOMAIN}__STREAM`` (ARNs: a policy needs the account and
region a bare name lacks); the producer's policy gains ``kinesis:PutRecords`` on exactly those
ARNs; a consumer group granted a domain's ``events`` in ``consumers.yaml`` may poll its streams;
lint flags a producer reaching another domain's stream, a stream outside the lake's domains, a
consumer writing to a stream, reading one it was not granted, or reading two domains' streams
without an approval.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from producer.errors import ConfigError
from producer.governance.clouds import lint_rendered
from producer.governance.lint import Principal, Reading, lint_policy
from producer.governance.model import parse_governance
from producer.governance.ports import build_layout, read_layout
from producer.governance.render import render

TEL = "arn:aws:kinesis:eu-west-1:123456789012:stream/tel-v1"
QMS = "arn:aws:kinesis:eu-west-1:123456789012:stream/qms-v1"
ON = date(2027, 1, 15)
LAYOUT = build_layout(
    "s3://genesys-data-lake",
    {"telephony": ("telephony-cdr-export", None), "quality": ("qms-scores-export", None)},
    streams={"telephony": (TEL,), "quality": (QMS,)},
)
CONFIG = parse_governance(
    {
        "version": 1,
        "consumers": {
            "analytics": {
                "idp_scope": "scope:a",
                "reads": [{"domain": "telephony", "majors": [1]}],
            },
            "reactors": {
                "idp_scope": "scope:r",
                "reads": [
                    {"domain": "telephony", "majors": [1], "events": True},
                    {"domain": "quality", "majors": [1]},
                ],
                "approvals": [
                    {
                        "domains": ["telephony", "quality"],
                        "use_case": "coaching",
                        "approved_by": "council",
                        "reason": "coaching after calls",
                        "expires": "2027-06-30",
                    }
                ],
            },
        },
    },
    "consumers.yaml",
)


def _policy(actions: list[str], resource: str) -> dict[str, Any]:
    statement = {"Sid": "S", "Effect": "Allow", "Action": actions, "Resource": [resource]}
    return {"Version": "2012-10-17", "Statement": [statement]}


def _kinds(document: dict[str, Any], principal: str) -> list[str]:
    findings = lint_policy(document, Reading(Principal.parse(principal), CONFIG, LAYOUT, ON))
    return [finding.kind for finding in findings]


def test_the_producer_puts_records_on_its_own_stream_only() -> None:
    policies = render(CONFIG, LAYOUT).policies
    for domain, stream in (("telephony", TEL), ("quality", QMS)):
        statements = policies[f"producer-{domain}.json"]["Statement"]
        publish = [s for s in statements if any(a.startswith("kinesis:") for a in s["Action"])]
        assert publish == [
            {
                "Sid": "PublishEvents",
                "Effect": "Allow",
                "Action": ["kinesis:PutRecords"],
                "Resource": [stream],
            }
        ]
    consumer = policies["consumer-analytics.json"]["Statement"]
    assert not [s for s in consumer if any(a.startswith("kinesis:") for a in s["Action"])]


def test_a_group_granted_events_polls_that_domains_streams_only() -> None:
    statements = render(CONFIG, LAYOUT).policies["consumer-reactors.json"]["Statement"]
    streams = [s for s in statements if any(a.startswith("kinesis:") for a in s["Action"])]
    assert streams == [
        {
            "Sid": "SubscribeTelephony",
            "Effect": "Allow",
            "Action": [
                "kinesis:DescribeStream",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
            "Resource": [TEL],
        }
    ]


def test_rendered_policies_lint_clean() -> None:
    lines, count = lint_rendered("aws", CONFIG, LAYOUT, ON)
    assert lines == []
    assert count == 4


def test_a_domain_without_a_stream_gets_no_kinesis_grant() -> None:
    layout = build_layout(
        "s3://genesys-data-lake",
        {"telephony": ("telephony-cdr-export", None), "quality": ("qms-scores-export", None)},
    )
    for statements in (p["Statement"] for p in render(CONFIG, layout).policies.values()):
        assert all(not a.startswith("kinesis:") for s in statements for a in s["Action"])


@pytest.mark.parametrize(
    ("actions", "resource", "principal", "kind"),
    [
        (["kinesis:PutRecords"], QMS, "producer:telephony", "cross-domain-write"),
        (["kinesis:GetRecords"], QMS, "producer:telephony", "cross-domain-read"),
        (
            ["kinesis:PutRecords"],
            "arn:aws:kinesis:eu-west-1:123456789012:stream/other",
            "producer:telephony",
            "outside-lake",
        ),
        (
            ["kinesis:PutRecords"],
            "arn:aws:kinesis:eu-west-1:123456789012:stream/*",
            "producer:telephony",
            "wildcard-resource",
        ),
        (["kinesis:PutRecords"], TEL, "consumer:analytics", "consumer-write"),
        (["kinesis:GetRecords"], TEL, "consumer:analytics", "not-granted"),
        (["kinesis:GetRecords"], QMS, "consumer:reactors", "not-granted"),
    ],
)
def test_lint_flags_streams_beyond_the_principal(
    actions: list[str], resource: str, principal: str, kind: str
) -> None:
    assert kind in _kinds(_policy(actions, resource), principal)


def test_own_stream_is_clean() -> None:
    assert _kinds(_policy(["kinesis:PutRecords"], TEL), "producer:telephony") == []


def test_the_layout_reads_stream_arns_and_refuses_a_bare_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MESH_LAKE_URL", "s3://genesys-data-lake")
    monkeypatch.setenv("MESH_TELEPHONY__STREAM", TEL)
    assert read_layout().ports["telephony"].streams == (TEL,)
    assert read_layout().ports["quality"].streams == ()
    monkeypatch.setenv("MESH_TELEPHONY__STREAM", "kinesis://tel-v1")
    with pytest.raises(ConfigError, match=r"^MESH_TELEPHONY__STREAM: .*ARN"):
        read_layout()


def test_streams_count_for_the_cross_domain_rule() -> None:
    """A group reading telephony's lake and quality's stream reads two domains: it needs an
    approval covering both (``analytics`` has none)."""
    document = _policy(["kinesis:GetRecords"], QMS)
    document["Statement"].append(
        {
            "Sid": "Lake",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws:s3:::genesys-data-lake/telephony-cdr-export/v1/*"],
        }
    )
    assert "cross-domain-read" in _kinds(document, "consumer:analytics")
    tel = _policy(["kinesis:GetRecords"], TEL)
    assert _kinds(tel, "consumer:reactors") == []
