"""Rendered policies: exactly the granted keys, from the producers' own settings, lint-clean.

Keys are made with ``producer.lake.keys`` (what the writer really writes) and matched against the
rendered resources with IAM's wildcard rule, so the policies follow the lake layout, not a copy.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from producer.errors import ConfigError
from producer.governance.files import default_governance_file, load_governance
from producer.governance.lint import Principal, Reading, lint_policy
from producer.governance.model import GovernanceConfig, parse_governance
from producer.governance.ports import LakeLayout, build_layout, read_layout
from producer.governance.render import IDP_TABLE, render
from producer.lake.keys import checkpoint_key, data_key, dlq_key, published_key, registry_key
from producer.lake.lease import lease_key
from producer.settings import DOMAIN_NAMES
from producer.windows import Window

WINDOW = Window(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 10, 15, tzinfo=UTC))
PREFIXES = {"telephony": "telephony-cdr-export", "quality": "qms-scores-export", "wfm": "wfm-sch"}
ON = date(2027, 1, 15)

CONFIG = parse_governance(
    {
        "version": 1,
        "consumers": {
            "analytics-engineering": {
                "idp_scope": "scope:read_telephony_data",
                "reads": [{"domain": "telephony", "majors": [1]}],
            },
            "compliance-team": {
                "idp_scope": "scope:read_compliance_data",
                "reads": [
                    {"domain": "telephony", "majors": [1]},
                    {"domain": "wfm", "majors": [1, 2]},
                ],
                "approvals": [
                    {
                        "domains": ["telephony", "wfm"],
                        "use_case": "adherence audit",
                        "approved_by": "council",
                        "reason": "regulator asked",
                        "expires": "2027-06-30",
                    }
                ],
            },
        },
    },
    "test",
)


@pytest.fixture(params=["shared", "per-domain"])
def layout(request: pytest.FixtureRequest) -> LakeLayout:
    """A lake with a root; all domains in one bucket, or WFM in a bucket of its own."""
    wfm_bucket = "wfm-lake" if request.param == "per-domain" else None
    return build_layout(
        "s3://genesys-data-lake/mesh",
        {
            "telephony": (PREFIXES["telephony"], None),
            "quality": (PREFIXES["quality"], None),
            "wfm": (PREFIXES["wfm"], wfm_bucket),
        },
    )


def _iam_match(pattern: str, value: str) -> bool:
    """IAM's rule for Resource and StringLike: ``*`` any run of characters, ``?`` one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def _allowed(policy: dict[str, Any], action: str, bucket: str, key: str) -> bool:
    resource = f"arn:aws:s3:::{bucket}/{key}"
    return any(
        statement["Effect"] == "Allow"
        and action in statement["Action"]
        and any(_iam_match(pattern, resource) for pattern in statement["Resource"])
        for statement in policy["Statement"]
    )


def _listable(policy: dict[str, Any], bucket: str, prefix: str) -> bool:
    """Whether some ListBucket statement on ``bucket`` lets a listing with ``prefix`` through."""
    bucket_arn = f"arn:aws:s3:::{bucket}"
    for statement in policy["Statement"]:
        if "s3:ListBucket" in statement["Action"] and bucket_arn in statement["Resource"]:
            patterns = statement["Condition"]["StringLike"]["s3:prefix"]
            if any(_iam_match(pattern, prefix) for pattern in patterns):
                return True
    return False


def _keys(layout: LakeLayout, domain: str) -> dict[str, str]:
    """Real keys of every area of ``domain``, under the lake root, as the writer makes them."""
    prefix, root = PREFIXES[domain], layout.root
    keys = {
        "v1": data_key(prefix, 1, domain, WINDOW, 0),
        "v2": data_key(prefix, 2, domain, WINDOW, 3, "zstd"),
        "v3": data_key(prefix, 3, domain, WINDOW, 0),
        "dlq": dlq_key(prefix, domain, WINDOW, 0),
        "state": checkpoint_key(prefix),
        "lease": lease_key(prefix),
        "marker": published_key(prefix, 1, WINDOW),
        "registry-1.0": registry_key(domain, "1.0"),
        "registry-1.4": registry_key(domain, "1.4"),
        "registry-3.0": registry_key(domain, "3.0"),
        "subscription": f"_registry/{domain}/subscriptions/someone.json",
    }
    return {name: f"{root}/{key}" for name, key in keys.items()}


class TestConsumerPolicy:
    def test_reads_exactly_the_granted_majors(self, layout: LakeLayout) -> None:
        """GetObject reaches the granted majors' data and registry entries; nothing else."""
        policy = render(CONFIG, layout).policies["consumer-compliance-team.json"]
        for domain, granted in (("telephony", {"v1"}), ("wfm", {"v1", "v2"})):
            bucket = layout.ports[domain].bucket
            keys = _keys(layout, domain)
            readable = {
                name for name, key in keys.items() if _allowed(policy, "s3:GetObject", bucket, key)
            }
            assert readable == granted | {"registry-1.0", "registry-1.4"}
        quality = _keys(layout, "quality")
        assert not any(
            _allowed(policy, "s3:GetObject", "genesys-data-lake", key) for key in quality.values()
        )

    def test_never_writes_and_never_reads_dead_letters(self, layout: LakeLayout) -> None:
        """Only s3:GetObject and s3:ListBucket appear; no failed-records/ or _state/ anywhere."""
        for name, policy in render(CONFIG, layout).policies.items():
            if not name.startswith("consumer-"):
                continue
            actions = {a for statement in policy["Statement"] for a in statement["Action"]}
            assert actions == {"s3:GetObject", "s3:ListBucket"}
            text = json.dumps(policy)
            assert "failed-records" not in text
            assert "_state" not in text

    def test_listing_is_limited_to_the_granted_prefixes(self, layout: LakeLayout) -> None:
        """ListBucket is on the domain's bucket ARN with an s3:prefix condition for its majors."""
        policy = render(CONFIG, layout).policies["consumer-analytics-engineering.json"]
        root = layout.root
        assert _listable(policy, "genesys-data-lake", f"{root}/telephony-cdr-export/v1/")
        assert _listable(
            policy, "genesys-data-lake", f"{root}/telephony-cdr-export/v1/dt=2024-05-01/"
        )
        assert _listable(policy, "genesys-data-lake", f"{root}/_registry/telephony/1.")
        assert not _listable(policy, "genesys-data-lake", f"{root}/telephony-cdr-export/")
        assert not _listable(
            policy, "genesys-data-lake", f"{root}/telephony-cdr-export/failed-records/"
        )
        assert not _listable(policy, "genesys-data-lake", f"{root}/qms-scores-export/v1/")
        assert not _listable(policy, "genesys-data-lake", "")


class TestProducerPolicy:
    @pytest.mark.parametrize("domain", DOMAIN_NAMES)
    def test_writes_its_own_product_only(self, layout: LakeLayout, domain: str) -> None:
        """A producer writes its data (any major), DLQ, state and registry; no other domain's."""
        policies = render(CONFIG, layout).policies
        policy = policies[f"producer-{domain}.json"]
        bucket = layout.ports[domain].bucket
        for key in _keys(layout, domain).values():
            assert _allowed(policy, "s3:PutObject", bucket, key), key
            assert _allowed(policy, "s3:GetObject", bucket, key), key
        for other in DOMAIN_NAMES:
            if other == domain:
                continue
            other_bucket = layout.ports[other].bucket
            for key in _keys(layout, other).values():
                assert not _allowed(policy, "s3:PutObject", other_bucket, key), key
                assert not _allowed(policy, "s3:GetObject", other_bucket, key), key
        assert _listable(policy, bucket, f"{layout.ports[domain].base}/v1/dt=2024-05-01/")
        assert not _listable(policy, bucket, f"{layout.root}/")

    def test_published_contracts_cannot_be_deleted(self, layout: LakeLayout) -> None:
        """DeleteObject reaches data and DLQ parts (stale parts), the writer lease (released) and
        old event-stream markers, but no registry entry and never the checkpoint."""
        policy = render(CONFIG, layout).policies["producer-telephony.json"]
        keys = _keys(layout, "telephony")
        deletable = {
            name
            for name, key in keys.items()
            if _allowed(policy, "s3:DeleteObject", "genesys-data-lake", key)
        }
        assert deletable == {"v1", "v2", "v3", "dlq", "lease", "marker"}


def test_idp_table_maps_each_scope_to_one_role(layout: LakeLayout) -> None:
    """The IdP table: scope → the group's role and policy file, as the guide's example."""
    rendered = render(CONFIG, layout)
    table = json.loads(rendered.files()[IDP_TABLE])
    entry = table["scopes"]["scope:read_telephony_data"]
    assert entry["role"] == "mesh-consumer-analytics-engineering"
    assert entry["policy"] == "consumer-analytics-engineering.json"
    assert entry["reads"] == {"telephony": [1]}
    assert set(table["scopes"]) == {"scope:read_telephony_data", "scope:read_compliance_data"}


def test_output_is_stable_json(layout: LakeLayout) -> None:
    """Rendering twice gives the same bytes; every file parses; one file per group and domain."""
    first, second = render(CONFIG, layout).files(), render(CONFIG, layout).files()
    assert first == second
    assert sorted(first) == [
        "consumer-analytics-engineering.json",
        "consumer-compliance-team.json",
        IDP_TABLE,
        "producer-quality.json",
        "producer-telephony.json",
        "producer-wfm.json",
    ]
    for text in first.values():
        assert text.endswith("}\n")
        json.loads(text)


@pytest.mark.parametrize("config", [CONFIG, load_governance(default_governance_file())])
def test_rendered_policies_pass_their_own_lint(
    config: GovernanceConfig, layout: LakeLayout
) -> None:
    """Done-when: every rendered policy, of the test and the shipped file, has no finding."""
    for name, policy in render(config, layout).policies.items():
        principal = Principal.from_file_name(name)
        assert principal is not None
        assert lint_policy(policy, Reading(principal, config, layout, ON)) == [], name


class TestLayoutFromEnvironment:
    def test_defaults_and_overrides_of_the_producers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Same variables and defaults as the producers; OAuth client variables are not needed."""
        monkeypatch.setenv("MESH_LAKE_URL", "s3://genesys-data-lake/mesh/")
        monkeypatch.setenv("MESH_QUALITY__PREFIX", "qa/scores/")
        monkeypatch.setenv("MESH_WFM__BUCKET", "wfm-lake")
        monkeypatch.setenv("MESH_TELEPHONY__CLIENT_SECRET", "s3cr3t")  # ignored, never required
        layout = read_layout()
        assert tuple(layout.ports) == DOMAIN_NAMES
        assert layout.root == "mesh"
        telephony, quality, wfm = (layout.ports[name] for name in DOMAIN_NAMES)
        assert (telephony.bucket, telephony.base) == (
            "genesys-data-lake",
            "mesh/telephony-cdr-export",
        )
        assert (quality.bucket, quality.base) == ("genesys-data-lake", "mesh/qa/scores")
        assert (wfm.bucket, wfm.base) == ("wfm-lake", "mesh/wfm-schedules-export")
        assert wfm.registry_dir == "mesh/_registry/wfm/"

    @pytest.mark.parametrize(
        ("variable", "value", "expected"),
        [
            ("MESH_LAKE_URL", "file:///var/lake", "MESH_LAKE_URL: access policies need an s3://"),
            ("MESH_LAKE_URL", "s3://Bad_Bucket", "MESH_LAKE_URL: 'Bad_Bucket' is not a valid"),
            ("MESH_WFM__BUCKET", "WFM", "MESH_WFM__BUCKET: String should match pattern"),
            ("MESH_QUALITY__PREFIX", "/abs", "MESH_QUALITY__PREFIX: '/abs' must not start"),
            ("MESH_QUALITY__PREFIX", "a/../b", "MESH_QUALITY__PREFIX: segment '..' of 'a/../b'"),
            ("MESH_QUALITY__PREFIX", "", "MESH_QUALITY__PREFIX: must not be empty"),
            (
                "MESH_QUALITY__PREFIX",
                "telephony-cdr-export/quality",
                "MESH_QUALITY__PREFIX: 'telephony-cdr-export/quality' and telephony's",
            ),
        ],
    )
    def test_bad_values_name_the_variable(
        self, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
    ) -> None:
        """Wrong lake variables are a one-line ConfigError naming the variable (exit 2)."""
        monkeypatch.setenv("MESH_LAKE_URL", "s3://genesys-data-lake")
        monkeypatch.setenv(variable, value)
        with pytest.raises(ConfigError) as caught:
            read_layout()
        assert str(caught.value).startswith(expected)

    def test_the_default_lake_is_not_an_s3_lake(self) -> None:
        """With no variables at all the lake is file://./lake: there is nothing to write IAM for."""
        with pytest.raises(ConfigError, match="MESH_LAKE_URL"):
            read_layout()


def test_an_approval_past_expiry_is_a_finding_the_day_after(layout: LakeLayout) -> None:
    """The approval holds through 2027-06-30; on 2027-07-01 the same policy is a finding."""
    policy = render(CONFIG, layout).policies["consumer-compliance-team.json"]
    principal = Principal("consumer", "compliance-team")
    last_day = date(2027, 6, 30)
    assert lint_policy(policy, Reading(principal, CONFIG, layout, last_day)) == []
    day_after = Reading(principal, CONFIG, layout, last_day + timedelta(days=1))
    later = lint_policy(policy, day_after)
    assert [finding.kind for finding in later] == ["cross-domain-read"]
