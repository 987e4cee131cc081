"""CXone mappers against the real contracts (``config/contracts``) and the project's validator.

A record the mapper accepts must validate; one it cannot map is a rejection with a rule, never
a guess; the simulator's deliberate rejects end as the rule they were built for. Telephony and
Quality of one contact carry the same id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from producer.contracts.registry import load_domain_contracts, select_contract
from producer.contracts.validate import Validator
from producer.domains.quality.nice import map_workflow, workflow_id, workflow_submitted
from producer.domains.telephony.nice import contact_id, contact_start, map_contact
from producer.errors import ConfigError
from producer.issues import Issue
from producer.platforms.nice.extraction import csv_key
from producer.platforms.nice.ids import contact_uuid
from producer.platforms.nice.registry import SUPPORTED, nice_spec
from producer.platforms.nice.simulator import data

CONTRACTS = Path(__file__).resolve().parents[2] / "config" / "contracts"
EPOCH = datetime(2025, 3, 10, tzinfo=UTC)


def validator(domain: str) -> Validator:
    return Validator(select_contract(load_domain_contracts(CONTRACTS, domain), domain, None))


def outcome(domain: str, source: Any) -> list[Issue] | None:
    """None when the record maps and validates, else the issues (mapping, then contract)."""
    mapper = map_contact if domain == "telephony" else map_workflow
    mapped = mapper(source)
    if not mapped.ok:
        return list(mapped.issues)
    assert mapped.record is not None
    return validator(domain).check(mapped.record) or None


def rules(issues: list[Issue] | None) -> set[str]:
    return {issue.rule for issue in issues or ()}


def contact(index: int) -> dict[str, Any]:
    return data.contact(EPOCH, 40.0, 7, index).body


def row(index: int) -> dict[str, str]:
    found = data.workflow_row(data.contact(EPOCH, 40.0, 7, index), 7, "t")
    assert found is not None
    return {csv_key(header): value for header, value in found.items()}


def _is(name: str, index: int) -> bool:
    modulus, remainder = data.REJECTS[name]
    return index % modulus == remainder


def test_a_voice_contact_maps_to_a_valid_record() -> None:
    source = contact(0)
    mapped = map_contact(source)
    assert mapped.ok
    assert mapped.record == {
        "interaction_id": contact_uuid(source["contactId"]),
        "channel_type": "voice",
        "duration_seconds": source["totalDurationSeconds"],
        "caller_number": source["fromAddress"],
        "metadata": {"agent_id": str(source["agentId"])},
    }
    assert validator("telephony").check(mapped.record) == []


def test_outbound_takes_the_dialled_number_and_the_campaign() -> None:
    source = contact(3)  # index % 4 == 3: outbound
    mapped = map_contact(source)
    assert mapped.record is not None
    assert mapped.record["caller_number"] == source["toAddress"]
    assert mapped.record["metadata"]["campaign_id"] == "9001"


def test_chat_has_no_caller_number() -> None:
    mapped = map_contact(contact(2))  # index % 5 == 2: chat
    assert mapped.record is not None
    assert mapped.record["channel_type"] == "chat"
    assert "caller_number" not in mapped.record


def test_the_older_spelling_maps_to_the_same_record() -> None:
    newer = contact(0)
    older = {
        {"contactStartDate": "contactStart", "fromAddress": "fromAddr", "toAddress": "toAddr"}.get(
            key, "mediaType" if key == "mediaTypeId" else key
        ): value
        for key, value in newer.items()
    }
    assert map_contact(older).record == map_contact(newer).record
    assert contact_start(older) == contact_start(newer)


def test_both_spellings_that_disagree_are_rejected_not_resolved() -> None:
    source = {**contact(0), "fromAddr": "+19999999999"}
    mapped = map_contact(source)
    assert not mapped.ok
    assert rules(list(mapped.issues)) == {"conflicting_fields"}


@pytest.mark.parametrize(
    ("source", "rule", "stage"),
    [
        ("not an object", "type", "parse"),
        ({"contactStartDate": "2025-03-10T00:00:00Z"}, "required", "parse"),
        ({"contactId": 5, "contactStartDate": "yesterday"}, "format", "parse"),
        ({"contactId": -5, "contactStartDate": "2025-03-10T00:00:00Z"}, "required", "parse"),
        (
            {**{"contactId": 5, "contactStartDate": "2025-03-10T00:00:00Z"}},
            "no_duration",
            "mapping",
        ),
    ],
)
def test_unusable_contacts_are_rejected_with_a_rule(source: Any, rule: str, stage: str) -> None:
    mapped = map_contact(source)
    assert not mapped.ok
    assert rule in rules(list(mapped.issues))
    assert mapped.stage == stage


def test_an_unknown_media_type_is_a_mapping_rejection() -> None:
    mapped = map_contact({**contact(0), "mediaTypeId": 42})
    assert rules(list(mapped.issues)) == {"unknown_media_type"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("email_channel", "enum"), ("anonymous_caller", "pattern"), ("no_duration", "no_duration")],
)
def test_the_simulators_deliberate_contact_rejects_end_as_their_rule(
    name: str, expected: str
) -> None:
    index = next(i for i in range(1000) if _is(name, i) and i % 5 != 2 and i % 4 != 3)
    assert expected in rules(outcome("telephony", contact(index)))


def test_every_other_simulated_contact_validates() -> None:
    checked = 0
    for index in range(400):
        if any(_is(name, index) for name in ("email_channel", "anonymous_caller", "no_duration")):
            continue
        assert outcome("telephony", contact(index)) is None, index
        checked += 1
    assert checked > 300


def test_a_workflow_row_maps_to_a_valid_record_joined_to_its_contact() -> None:
    source = row(3)
    mapped = map_workflow(source)
    assert mapped.ok
    assert mapped.record is not None
    assert mapped.record["conversation_id"] == map_contact(contact(3)).record["interaction_id"]  # type: ignore[index]
    assert mapped.record["status"] == "FINISHED"
    assert mapped.record["total_score"] == float(source["scorePercentage"])
    assert mapped.record["changed_at"].endswith("Z")
    assert mapped.record["media_type"] == "voice"
    assert not {"evaluator_id", "form_id", "critical_score", "released_at", "version"} & set(
        mapped.record
    )
    assert validator("quality").check(mapped.record) == []
    assert workflow_id(source) == source["workflowId"]
    assert workflow_submitted(source) is not None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("status_unmapped", "status_unmapped"),
        ("no_contact", "no_contact"),
        ("bad_number", "bad_number"),
    ],
)
def test_the_simulators_deliberate_workflow_rejects_end_as_their_rule(
    name: str, expected: str
) -> None:
    index = next(i for i in range(0, 3000, 3) if _is(name, i))
    assert expected in rules(outcome("quality", row(index)))


def test_every_other_simulated_workflow_validates() -> None:
    checked = 0
    for index in range(0, 1200, 3):
        if any(_is(name, index) for name in ("status_unmapped", "no_contact", "bad_number")):
            continue
        assert outcome("quality", row(index)) is None, index
        checked += 1
    assert checked > 250


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"workflowId": "42"}, "format"),  # not a UUID: the contract rejects it, no rewrite
        ({"agentId": "2001"}, "format"),
        ({"lastUpdated": ""}, "format"),
        ({"submissionDate": "soon"}, "format"),
        ({"workflowStatus": "Dispute"}, "status_unmapped"),
        ({"scorePercentage": "150"}, "maximum"),
    ],
)
def test_workflow_values_the_contract_cannot_take_are_rejected(
    change: dict[str, str], rule: str
) -> None:
    assert rule in rules(outcome("quality", {**row(3), **change}))


def test_record_ids_are_stable_and_the_join_key() -> None:
    assert contact_id(contact(3)) == contact_uuid(contact(3)["contactId"])
    assert contact_id({"contactId": True}) is None
    assert contact_uuid(500003) == contact_uuid(500003) != contact_uuid(500004)


def test_wfm_on_nice_is_a_one_line_configuration_error() -> None:
    assert SUPPORTED == ("telephony", "quality")
    with pytest.raises(ConfigError) as caught:
        nice_spec("wfm")
    message = str(caught.value)
    assert message.startswith("MESH_WFM__PLATFORM=nice")
    assert "\n" not in message
    assert nice_spec("telephony").feed.map_record is map_contact
