"""Governance file: the shipped consumers.yaml is valid, and every mistake is one line naming it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from producer.errors import ConfigError
from producer.governance.files import default_governance_file, load_governance
from producer.governance.model import Approval

_GOOD = """\
version: 1
consumers:
  analytics-engineering:
    idp_scope: scope:read_telephony_data
    reads:
      - domain: telephony
        majors: [1]
"""
_APPROVAL = """\
    approvals:
      - domains: [telephony, wfm]
        use_case: audit
        approved_by: council
        reason: why not
        expires: {expires}
"""


def _load(tmp_path: Path, text: str) -> str:
    """Load ``text`` as a governance file, expecting a ConfigError; returns its message."""
    path = tmp_path / "consumers.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_governance(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    return message


def test_the_shipped_file_is_valid() -> None:
    """config/governance/consumers.yaml loads: the guide's groups, scopes and the approval."""
    config = load_governance(default_governance_file())
    engineering = config.consumers["analytics-engineering"]
    assert engineering.idp_scope == "scope:read_telephony_data"
    assert engineering.domains == {"telephony"}
    assert engineering.majors("telephony") == (1,)
    compliance = config.consumers["compliance-team"]
    assert compliance.domains == {"telephony", "wfm"}
    assert compliance.approvals[0].domains == ("telephony", "wfm")
    vendors = [name for name, group in config.consumers.items() if group.third_party]
    assert vendors == ["speech-analytics-vendor"]
    assert "wfm" in config.internal_domains


def test_a_minimal_file_is_valid(tmp_path: Path) -> None:
    """version, one group with a scope and one grant is all it takes; majors come back sorted."""
    path = tmp_path / "consumers.yaml"
    path.write_text(_GOOD.replace("[1]", "[2, 1]"), encoding="utf-8")
    config = load_governance(path)
    assert config.partition == "aws"
    assert config.consumers["analytics-engineering"].majors("telephony") == (1, 2)
    assert config.consumers["analytics-engineering"].majors("wfm") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _GOOD.replace("domain: telephony", "domain: telefony"),
            "consumers.analytics-engineering.reads.0.domain: Input should be 'telephony'",
        ),
        (
            _GOOD.replace("    idp_scope: scope:read_telephony_data\n", ""),
            "consumers.analytics-engineering.idp_scope: Field required",
        ),
        (
            _GOOD.replace("reads:", "read:"),
            "consumers.analytics-engineering.read: Extra inputs are not permitted",
        ),
        (_GOOD.replace("[1]", "[]"), "reads.0.majors: Tuple should have at least 1 item"),
        (_GOOD.replace("[1]", "[1, 1]"), "reads.0.majors: a major is listed twice"),
        (_GOOD.replace("version: 1", "version: 2"), "version: Input should be 1"),
        (
            _GOOD.replace("analytics-engineering:", "Analytics_Engineering:"),
            "consumers: group name 'Analytics_Engineering' must be",
        ),
        (
            _GOOD + "      - domain: telephony\n        majors: [2]\n",
            "reads: a domain is listed twice",
        ),
        (
            _GOOD
            + "  finance:\n    idp_scope: scope:read_telephony_data\n"
            + "    reads: [{domain: quality, majors: [1]}]\n",
            "finance and analytics-engineering share the IdP scope 'scope:read_telephony_data'",
        ),
        (
            _GOOD + _APPROVAL.replace("{expires}", "2027-01-01"),
            "approvals: wfm approved but not in this group's reads",
        ),
        (
            _GOOD.replace("[1]", "[1]\n      - domain: wfm\n        majors: [1]")
            + _APPROVAL.replace("{expires}", "someday"),
            "approvals.0.expires: Input should be a valid date",
        ),
        ("- just\n- a list\n", "expected a mapping with 'version' and 'consumers'"),
        ("version: 1\nconsumers: {}\n", "consumers: Dictionary should have at least 1 item"),
        ("version: 1\nconsumers: [unclosed\n", "not valid YAML at line 3, column 1"),
    ],
)
def test_mistakes_are_one_line_naming_file_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Each mistake gives one ConfigError line: the file, the field path and what is wrong."""
    assert expected in _load(tmp_path, text)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    """A governance file that does not exist is a ConfigError naming it (exit 2)."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read"):
        load_governance(missing)


def test_an_approval_is_valid_through_its_last_day() -> None:
    """covers(): the expiry day still counts, the day after does not; it must name every domain."""
    approval = Approval(
        domains=("telephony", "wfm"),
        use_case="adherence audit",
        approved_by="council",
        reason="regulator asked",
        expires=date(2027, 6, 30),
    )
    both = frozenset({"telephony", "wfm"})
    assert approval.covers(both, date(2027, 6, 30))
    assert not approval.covers(both, date(2027, 7, 1))
    assert not approval.covers(frozenset({"telephony", "quality"}), date(2027, 1, 1))


def test_only_the_precise_error_is_reported(tmp_path: Path) -> None:
    """A bad item is reported once, without the follow-on error of its enclosing list."""
    message = _load(tmp_path, _GOOD.replace("domain: telephony", "domain: telefony"))
    assert message.count(": ") == 2  # "<file>: <field>: <problem>"
    assert "Tuple should have" not in message
