"""Policy lint: each kind of finding on hand-written policies, and none on a least-privilege one.

The lake is ``s3://genesys-data-lake`` with the default prefixes, WFM in its own bucket.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from producer.errors import ConfigError
from producer.governance.lint import Finding, Principal, Reading, lint_policy
from producer.governance.model import parse_governance
from producer.governance.ports import build_layout

LAKE = "arn:aws:s3:::genesys-data-lake"
WFM = "arn:aws:s3:::wfm-lake"
ON = date(2027, 1, 15)
LAYOUT = build_layout(
    "s3://genesys-data-lake",
    {
        "telephony": ("telephony-cdr-export", None),
        "quality": ("qms-scores-export", None),
        "wfm": ("wfm-schedules-export", "wfm-lake"),
    },
)


def _approval(expires: str) -> dict[str, Any]:
    return {
        "domains": ["telephony", "wfm"],
        "use_case": "adherence audit",
        "approved_by": "council",
        "reason": "regulator asked",
        "expires": expires,
    }


def _reads(*domains: str) -> list[dict[str, Any]]:
    return [{"domain": domain, "majors": [1]} for domain in domains]


CONFIG = parse_governance(
    {
        "version": 1,
        "internal_domains": ["wfm"],
        "consumers": {
            "analytics-engineering": {"idp_scope": "scope:a", "reads": _reads("telephony")},
            "compliance-team": {
                "idp_scope": "scope:c",
                "reads": _reads("telephony", "wfm"),
                "approvals": [_approval("2027-06-30")],
            },
            "lapsed-audit": {
                "idp_scope": "scope:l",
                "reads": _reads("telephony", "wfm"),
                "approvals": [_approval("2026-12-31")],
            },
            "speech-vendor": {
                "idp_scope": "scope:v",
                "third_party": True,
                "reads": _reads("wfm"),
            },
        },
    },
    "test",
)


def _allow(actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _list(bucket_arn: str, *prefixes: str) -> dict[str, Any]:
    return _allow(
        ["s3:ListBucket"],
        [bucket_arn],
        Condition={"StringLike": {"s3:prefix": list(prefixes)}},
    )


READ_TELEPHONY = _allow(["s3:GetObject"], [f"{LAKE}/telephony-cdr-export/v1/*"])
READ_WFM = _allow(["s3:GetObject"], [f"{WFM}/wfm-schedules-export/v1/*"])


def _lint(
    *statements: Any, who: str = "consumer:analytics-engineering", on: date = ON
) -> list[Finding]:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return lint_policy(document, Reading(Principal.parse(who), CONFIG, LAYOUT, on))


def _kinds(findings: list[Finding]) -> list[str]:
    return [finding.kind for finding in findings]


def test_a_least_privilege_consumer_policy_is_clean() -> None:
    """Granted major, registry entries of that major, scoped listing: no finding."""
    findings = _lint(
        _allow(
            ["s3:GetObject"],
            [f"{LAKE}/telephony-cdr-export/v1/*", f"{LAKE}/_registry/telephony/1.*"],
        ),
        _list(LAKE, "telephony-cdr-export/v1/*", "_registry/telephony/1.*"),
    )
    assert findings == []


class TestWildcards:
    @pytest.mark.parametrize("action", ["s3:*", "*", "s3:Get*", "s3:GetObjec?"])
    def test_wildcard_actions(self, action: str) -> None:
        """Any wildcard in an action is flagged: each action must be named."""
        findings = _lint(_allow([action], [f"{LAKE}/telephony-cdr-export/v1/*"]))
        assert "wildcard-action" in _kinds(findings)

    def test_wildcards_that_include_writes_are_writes(self) -> None:
        """s3:* in a consumer policy is a write too; in a producer's, a cross-domain write."""
        resource = f"{LAKE}/qms-scores-export/v1/*"
        consumer = _lint(_allow(["s3:*"], [f"{LAKE}/telephony-cdr-export/v1/*"]))
        assert _kinds(consumer) == ["wildcard-action", "consumer-write"]
        assert _kinds(_lint(_allow(["s3:Get*"], [f"{LAKE}/telephony-cdr-export/v1/*"]))) == [
            "wildcard-action"
        ]
        producer = _lint(_allow(["s3:*"], [resource]), who="producer:telephony")
        assert _kinds(producer) == ["wildcard-action", "cross-domain-write"]

    def test_not_action_is_a_wildcard(self) -> None:
        """NotAction allows everything else: flagged like a wildcard."""
        statement = {
            "Effect": "Allow",
            "NotAction": ["s3:DeleteObject"],
            "Resource": [f"{LAKE}/telephony-cdr-export/v1/*"],
        }
        assert _kinds(_lint(statement)) == ["wildcard-action"]

    @pytest.mark.parametrize(
        "resource",
        [
            f"{LAKE}/*",  # the guide's trap: the whole lake root
            "*",
            "arn:aws:s3:::*",
            "arn:aws:s3:::genesys-*/telephony-cdr-export/v1/*",
            f"{LAKE}/tele*",
            f"{LAKE}/_registry/*",
        ],
    )
    def test_wildcards_above_a_product(self, resource: str) -> None:
        """A wildcard reaching above one product (the lake root, several domains) is flagged."""
        findings = _lint(_allow(["s3:GetObject"], [resource]))
        assert "wildcard-resource" in _kinds(findings)

    def test_not_resource_is_a_wildcard(self) -> None:
        """NotResource allows every other resource: flagged."""
        statement = {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "NotResource": [f"{LAKE}/telephony-cdr-export/failed-records/*"],
        }
        assert _kinds(_lint(statement)) == ["wildcard-resource"]


class TestOutsideTheLake:
    @pytest.mark.parametrize(
        "resource",
        [
            "arn:aws:s3:::someone-elses-bucket/telephony-cdr-export/v1/*",
            f"{LAKE}/exports/dump.csv",
            f"{LAKE}/telephony-cdr-export/tmp/*",
            "arn:aws-cn:s3:::genesys-data-lake/telephony-cdr-export/v1/*",
            "arn:aws:dynamodb:us-east-1:123456789012:table/calls",
        ],
    )
    def test_resources_outside_the_products(self, resource: str) -> None:
        """Other buckets, folders that are no product area, other partitions, other services."""
        assert _kinds(_lint(_allow(["s3:GetObject"], [resource]))) == ["outside-lake"]

    def test_actions_of_other_services(self) -> None:
        """A lake policy names S3 actions only."""
        findings = _lint(_allow(["iam:PassRole"], [f"{LAKE}/telephony-cdr-export/v1/*"]))
        assert _kinds(findings) == ["outside-lake"]

    def test_bucket_administration(self) -> None:
        """Bucket-level writes (policy, ACL, deletion) are never part of a product's policy."""
        findings = _lint(_allow(["s3:PutBucketPolicy"], [LAKE]), who="producer:telephony")
        assert _kinds(findings) == ["bucket-action"]


class TestConsumers:
    @pytest.mark.parametrize("action", ["s3:PutObject", "s3:DeleteObject", "s3:RestoreObject"])
    def test_consumers_do_not_write(self, action: str) -> None:
        """Any write action in a consumer's policy is flagged, even on its own granted prefix."""
        findings = _lint(_allow([action], [f"{LAKE}/telephony-cdr-export/v1/*"]))
        assert _kinds(findings) == ["consumer-write"]

    @pytest.mark.parametrize(
        "resource",
        [
            f"{LAKE}/telephony-cdr-export/failed-records/*",
            f"{LAKE}/telephony-cdr-export/failed-records/dt=2024-05-01/hour=10/x.ndjson.gz",
            f"{LAKE}/telephony-cdr-export/*",
        ],
    )
    def test_dead_letters_are_for_the_producer_only(self, resource: str) -> None:
        """failed-records/ holds raw source objects: no consumer reaches it, directly or by '*'."""
        assert _kinds(_lint(_allow(["s3:GetObject"], [resource]))) == ["dead-letter-access"]

    def test_listing_dead_letters_is_flagged_too(self) -> None:
        """A listing prefix into failed-records/ is dead-letter access as well."""
        findings = _lint(_list(LAKE, "telephony-cdr-export/failed-records/"))
        assert _kinds(findings) == ["dead-letter-access"]

    @pytest.mark.parametrize(
        ("resource", "words"),
        [
            (
                f"{LAKE}/telephony-cdr-export/v2/*",
                "telephony data v2: analytics-engineering reads v1",
            ),
            (f"{LAKE}/telephony-cdr-export/v*", "telephony data of every major"),
            (f"{LAKE}/telephony-cdr-export/_state/checkpoint.json", "checkpoint state"),
            (f"{LAKE}/_registry/quality/1.0.json", "not granted quality"),
        ],
    )
    def test_reads_beyond_the_grant(self, resource: str, words: str) -> None:
        """Majors, areas and domains the governance file does not grant the group are flagged."""
        findings = _lint(_allow(["s3:GetObject"], [resource]))
        assert _kinds(findings) == ["not-granted"]
        assert words in findings[0].message

    def test_unscoped_listing(self) -> None:
        """ListBucket without an s3:prefix condition lists every key of the lake."""
        findings = _lint(READ_TELEPHONY, _allow(["s3:ListBucket"], [LAKE]))
        assert _kinds(findings) == ["unscoped-list"]
        other_condition = _allow(
            ["s3:ListBucket"], [LAKE], Condition={"StringEquals": {"s3:delimiter": "/"}}
        )
        assert _kinds(_lint(READ_TELEPHONY, other_condition)) == ["unscoped-list"]

    def test_listing_the_lake_root(self) -> None:
        """A listing condition whose prefix is the lake root is a wildcard above the products."""
        assert _kinds(_lint(_list(LAKE, "*"))) == ["wildcard-resource"]

    def test_unknown_group(self) -> None:
        """A policy for a group the governance file does not know is flagged."""
        findings = _lint(READ_TELEPHONY, who="consumer:shadow-analytics")
        assert _kinds(findings) == ["unknown-group"]


class TestCrossDomain:
    def test_two_domains_without_approval(self) -> None:
        """The guide's trap: one group reading two domains with no approval."""
        findings = _lint(READ_TELEPHONY, READ_WFM)
        assert _kinds(findings) == ["not-granted", "cross-domain-read"]
        assert findings[1].message == (
            "analytics-engineering reads telephony, wfm together without an approval"
        )

    def test_an_approved_use_case_is_accepted_until_it_expires(self) -> None:
        """compliance-team's approval covers telephony + wfm through 2027-06-30, not after."""
        who = "consumer:compliance-team"
        assert _lint(READ_TELEPHONY, READ_WFM, who=who, on=date(2027, 6, 30)) == []
        later = _lint(READ_TELEPHONY, READ_WFM, who=who, on=date(2027, 7, 1))
        assert _kinds(later) == ["cross-domain-read"]
        assert "approval 'adherence audit' expired 2027-06-30" in later[0].message

    def test_an_expired_approval_is_named(self) -> None:
        """A group whose approval lapsed is flagged with the approval and its expiry date."""
        findings = _lint(READ_TELEPHONY, READ_WFM, who="consumer:lapsed-audit")
        assert _kinds(findings) == ["cross-domain-read"]
        assert "expired 2026-12-31" in findings[0].message

    def test_third_parties_never_read_internal_domains(self) -> None:
        """The guide: a vendor does not see internal WFM schedules, even when granted."""
        findings = _lint(READ_WFM, who="consumer:speech-vendor")
        assert _kinds(findings) == ["third-party-internal"]

    def test_producer_writing_another_domain(self) -> None:
        """A producer's policy reaching another domain's product: write and read are flagged."""
        findings = _lint(
            _allow(["s3:PutObject"], [f"{LAKE}/qms-scores-export/v1/*"]),
            _allow(["s3:GetObject"], [f"{WFM}/wfm-schedules-export/_state/*"]),
            who="producer:telephony",
        )
        assert _kinds(findings) == ["cross-domain-write", "cross-domain-read"]

    def test_producer_listing_another_domain(self) -> None:
        """A producer's listing condition into another domain is cross-domain reach."""
        findings = _lint(_list(LAKE, "qms-scores-export/*"), who="producer:telephony")
        assert _kinds(findings) == ["cross-domain-read"]


def test_producers_may_not_delete_published_contracts() -> None:
    """Registry entries are immutable: DeleteObject there is flagged; PutObject is publishing."""
    registry = f"{LAKE}/_registry/telephony/*"
    assert _lint(_allow(["s3:PutObject"], [registry]), who="producer:telephony") == []
    findings = _lint(_allow(["s3:DeleteObject"], [registry]), who="producer:telephony")
    assert _kinds(findings) == ["registry-delete"]


def test_deny_statements_only_take_away() -> None:
    """A broad Deny is fine: only Allow statements can grant too much."""
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    assert _lint(READ_TELEPHONY, deny) == []


@pytest.mark.parametrize(
    "document",
    [{}, {"Statement": []}, {"Statement": "s3:*"}, [], "not a policy"],
)
def test_documents_that_are_not_policies(document: Any) -> None:
    """Something without a Statement list is one malformed finding, not a crash."""
    findings = lint_policy(document, Reading(Principal.parse("producer:wfm"), CONFIG, LAYOUT, ON))
    assert _kinds(findings) == ["malformed"]


def test_malformed_statements() -> None:
    """A statement without a valid Effect, or with non-string actions, is malformed."""
    findings = _lint(
        {"Action": ["s3:GetObject"], "Resource": [f"{LAKE}/telephony-cdr-export/v1/*"]},
        {"Effect": "Allow", "Action": [3], "Resource": [f"{LAKE}/telephony-cdr-export/v1/*"]},
        "text",
    )
    assert _kinds(findings) == ["malformed", "malformed", "malformed"]


def test_a_single_statement_object_is_accepted() -> None:
    """IAM allows Statement, Action and Resource as single values instead of lists."""
    document = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{LAKE}/telephony-cdr-export/v1/*",
        },
    }
    principal = Principal.parse("consumer:analytics-engineering")
    assert lint_policy(document, Reading(principal, CONFIG, LAYOUT, ON)) == []


def test_finding_lines_and_principals() -> None:
    """One line per finding: source, kind, where, message; principals from --as or file names."""
    findings = _lint(
        {"Sid": "Everything", **_allow(["s3:*"], [f"{LAKE}/telephony-cdr-export/v1/*"])}
    )
    assert findings[0].line("mine.json") == (
        "mine.json: wildcard-action: Statement[0] Everything: 's3:*': name each action instead"
    )
    assert Principal.from_file_name("consumer-qa-team.json") == Principal("consumer", "qa-team")
    assert Principal.from_file_name("producer-wfm.json") == Principal("producer", "wfm")
    assert Principal.from_file_name("idp-scope-roles.json") is None
    with pytest.raises(ConfigError, match="--as: expected consumer:GROUP"):
        Principal.parse("admin:everyone")
