"""Telephony mapper: reference-shaped conversations map as specified; nothing makes it raise."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.contracts.registry import load_contracts, select_contract
from producer.contracts.validate import Validator
from producer.domains.telephony.genesys import (
    ACTIVE_RULE,
    Mapped,
    conversation_start,
    map_conversation,
)
from producer.settings import default_contracts_dir

CONV = "7a3c9a1e-5b7d-4c3e-9f51-2d4b8e6a0c11"
AGENT = "0f4e2d1c-8b7a-4c6d-9e5f-3a2b1c0d9e8f"
CAMPAIGN = "c4a1e2b3-d5f6-4789-8abc-def012345678"
VALIDATOR = Validator(select_contract(load_contracts(default_contracts_dir()), "telephony", "1.0"))


def _session(media: str = "voice", **fields: Any) -> dict[str, Any]:
    return {"sessionId": "s", "mediaType": media, **fields}


def _inbound_voice() -> dict[str, Any]:
    """Customer -> IVR -> ACD queue -> agent, as in reference §5.4."""
    customer_leg = _session(
        direction="inbound",
        ani="tel:+13175550100",
        dnis="tel:+18005550199",
        provider="Edge",
        segments=[{"segmentType": "interact", "segmentStart": "2025-03-10T09:01:02.000Z"}],
        metrics=[{"name": "tTalk", "value": 1000}, {"name": "tTalk", "value": 2000}],
    )
    return {
        "conversationId": CONV,
        "conversationStart": "2025-03-10T09:01:02.000Z",
        "conversationEnd": "2025-03-10T09:06:14.400Z",
        "originatingDirection": "inbound",
        "divisionIds": ["d1"],
        "someNewField": {"appeared": "without notice"},
        "participants": [
            {"participantId": "p1", "purpose": "customer", "sessions": [customer_leg]},
            {
                "participantId": "p2",
                "purpose": "ivr",
                "participantName": "Main IVR",
                "sessions": [_session(direction="inbound", peerId="s", flow={"flowName": "x"})],
            },
            {
                "participantId": "p3",
                "purpose": "acd",
                "participantName": "Support",
                "sessions": [_session(direction="inbound", peerId="s")],
            },
            {
                "participantId": "p4",
                "purpose": "agent",
                "userId": AGENT,
                "sessions": [
                    _session(
                        direction="inbound",
                        segments=[
                            {"segmentType": "alert"},
                            {"segmentType": "interact"},
                            {"segmentType": "hold"},
                            {"segmentType": "interact"},
                            {"segmentType": "wrapup", "wrapUpCode": "w1"},
                        ],
                    )
                ],
            },
        ],
    }


def _outbound_dialer() -> dict[str, Any]:
    return {
        "conversationId": CONV,
        "conversationStart": "2025-03-10T10:00:00.000Z",
        "conversationEnd": "2025-03-10T10:02:00.000Z",
        "originatingDirection": "outbound",
        "participants": [
            {
                "purpose": "customer",
                "sessions": [
                    _session(
                        direction="outbound",
                        ani="tel:+18005550199",
                        dnis="tel:+13175550123",
                        outboundCampaignId=CAMPAIGN,
                        outboundContactId="contact-1",
                    )
                ],
            },
            {
                "purpose": "agent",
                "userId": AGENT,
                "sessions": [_session(direction="outbound", outboundCampaignId=CAMPAIGN)],
            },
        ],
    }


def _chat() -> dict[str, Any]:
    return {
        "conversationId": CONV,
        "conversationStart": "2025-03-10T11:00:00.000Z",
        "conversationEnd": "2025-03-10T11:10:30.000Z",
        "originatingDirection": "inbound",
        "participants": [
            {
                "purpose": "customer",
                "sessions": [_session("chat", direction="inbound", remote="Jo", roomId="r1")],
            },
            {"purpose": "acd", "sessions": [_session("chat", direction="inbound")]},
            {"purpose": "agent", "userId": AGENT, "sessions": [_session("chat")]},
        ],
    }


def _abandoned() -> dict[str, Any]:
    conversation = _inbound_voice()
    conversation["participants"] = conversation["participants"][:3]
    conversation["conversationEnd"] = "2025-03-10T09:01:40.000Z"
    return conversation


def _accepted(mapped: Mapped) -> dict[str, Any]:
    assert mapped.ok, mapped.issues
    assert mapped.record is not None
    assert VALIDATOR.check(mapped.record) == []
    return mapped.record


class TestReferenceConversations:
    def test_inbound_voice_with_ivr_acd_agent(self) -> None:
        """Inbound call: customer's ani without tel:, rounded duration, the agent's userId."""
        record = _accepted(map_conversation(_inbound_voice()))
        assert record == {
            "interaction_id": CONV,
            "channel_type": "voice",
            "duration_seconds": 312,
            "caller_number": "+13175550100",
            "metadata": {"agent_id": AGENT},
        }
        assert list(record) == [
            "interaction_id",
            "channel_type",
            "duration_seconds",
            "caller_number",
            "metadata",
        ]

    def test_outbound_dialer_uses_dnis_and_campaign(self) -> None:
        """Outbound call: the customer's number is the dnis; the campaign id is kept."""
        record = _accepted(map_conversation(_outbound_dialer()))
        assert record == {
            "interaction_id": CONV,
            "channel_type": "voice",
            "duration_seconds": 120,
            "caller_number": "+13175550123",
            "metadata": {"campaign_id": CAMPAIGN, "agent_id": AGENT},
        }

    def test_chat_has_no_caller_number(self) -> None:
        """A chat maps with channel chat and no caller_number (nothing null)."""
        record = _accepted(map_conversation(_chat()))
        assert record == {
            "interaction_id": CONV,
            "channel_type": "chat",
            "duration_seconds": 630,
            "metadata": {"agent_id": AGENT},
        }

    def test_abandoned_without_agent_omits_metadata(self) -> None:
        """An abandoned call (no agent, no campaign) has no metadata key at all."""
        record = _accepted(map_conversation(_abandoned()))
        assert "metadata" not in record
        assert record["duration_seconds"] == 38

    def test_active_conversation_is_a_mapping_rejection(self) -> None:
        """No conversationEnd: rejected at stage mapping so the DLQ shows it, never dropped."""
        source = _inbound_voice()
        del source["conversationEnd"]
        mapped = map_conversation(source)
        assert not mapped.ok
        assert mapped.stage == "mapping"
        assert [(i.path, i.rule) for i in mapped.issues] == [("$.conversationEnd", ACTIVE_RULE)]
        assert mapped.record is not None
        assert "duration_seconds" not in mapped.record
        assert mapped.record["interaction_id"] == CONV

    def test_null_end_is_active_and_bad_end_is_a_format_issue(self) -> None:
        """A null end counts as active; an unparseable end is a mapping format issue."""
        source = _inbound_voice()
        source["conversationEnd"] = None
        assert map_conversation(source).issues[0].rule == ACTIVE_RULE
        source["conversationEnd"] = "yesterday"
        mapped = map_conversation(source)
        assert mapped.stage == "mapping"
        assert [(i.path, i.rule) for i in mapped.issues] == [("$.conversationEnd", "format")]

    @pytest.mark.parametrize("ani", ["sip:+13175550100@10.0.0.1", "anonymous"])
    def test_non_tel_ani_passes_through_for_the_contract_to_reject(self, ani: str) -> None:
        """sip: and anonymous numbers are mapped as is and fail the caller_number pattern."""
        source = _inbound_voice()
        source["participants"][0]["sessions"][0]["ani"] = ani
        mapped = map_conversation(source)
        assert mapped.ok
        assert mapped.record is not None
        assert mapped.record["caller_number"] == ani
        issues = VALIDATOR.check(mapped.record)
        assert [(i.path, i.rule) for i in issues] == [("$.caller_number", "pattern")]

    def test_email_passes_through_for_the_contract_to_reject(self) -> None:
        """An email conversation maps its mediaType as is; the contract's enum rejects it."""
        source = {
            "conversationId": CONV,
            "conversationStart": "2025-03-10T12:00:00Z",
            "conversationEnd": "2025-03-10T12:30:00Z",
            "originatingDirection": "inbound",
            "participants": [
                {"purpose": "customer", "sessions": [_session("email", direction="inbound")]},
                {"purpose": "agent", "userId": AGENT, "sessions": [_session("email")]},
            ],
        }
        mapped = map_conversation(source)
        assert mapped.ok
        assert mapped.record is not None
        assert mapped.record["channel_type"] == "email"
        assert "caller_number" not in mapped.record
        issues = VALIDATOR.check(mapped.record)
        assert [(i.path, i.rule) for i in issues] == [("$.channel_type", "enum")]


class TestEdges:
    @pytest.mark.parametrize("source", [None, [], "text", 3, [{"conversationId": CONV}]])
    def test_non_object_is_a_parse_rejection(self, source: Any) -> None:
        """A source that is not a JSON object is rejected at stage parse with no record."""
        mapped = map_conversation(source)
        assert (mapped.stage, mapped.record, mapped.ok) == ("parse", None, False)
        assert mapped.issues[0].path == "$"

    @pytest.mark.parametrize(
        ("changes", "paths"),
        [
            ({"conversationId": None}, ["$.conversationId"]),
            ({"conversationId": ""}, ["$.conversationId"]),
            ({"conversationId": 12}, ["$.conversationId"]),
            ({"conversationStart": "not a time"}, ["$.conversationStart"]),
            (
                {"conversationStart": None, "conversationId": None},
                ["$.conversationId", "$.conversationStart"],
            ),
        ],
    )
    def test_missing_id_or_start_is_a_parse_rejection(
        self, changes: dict[str, Any], paths: list[str]
    ) -> None:
        """No usable conversationId or conversationStart: stage parse, every reason named."""
        source = {**_inbound_voice(), **changes}
        mapped = map_conversation(source)
        assert (mapped.stage, mapped.record) == ("parse", None)
        assert [issue.path for issue in mapped.issues] == paths

    def test_no_participants_leaves_channel_to_the_contract(self) -> None:
        """Without sessions there is no channel; validation reports it as required."""
        source = {k: v for k, v in _inbound_voice().items() if k != "participants"}
        mapped = map_conversation(source)
        assert mapped.ok
        assert mapped.record == {"interaction_id": CONV, "duration_seconds": 312}
        issues = VALIDATOR.check(mapped.record)
        assert [(i.path, i.rule) for i in issues] == [("$.channel_type", "required")]

    def test_customer_without_sessions_falls_back_to_first_session(self) -> None:
        """Channel comes from the first session of any participant when the customer has none."""
        source = _inbound_voice()
        source["participants"][0]["sessions"] = []
        source["participants"][1]["sessions"][0]["mediaType"] = "callback"
        mapped = map_conversation(source)
        assert mapped.record is not None
        assert mapped.record["channel_type"] == "callback"
        assert "caller_number" not in mapped.record

    def test_direction_falls_back_to_originating_direction(self) -> None:
        """A customer session without direction uses the conversation's originatingDirection."""
        source = _outbound_dialer()
        del source["participants"][0]["sessions"][0]["direction"]
        mapped = map_conversation(source)
        assert mapped.record is not None
        assert mapped.record["caller_number"] == "+13175550123"

    def test_negative_duration_is_left_to_the_contract(self) -> None:
        """An end before the start maps to a negative duration that the contract rejects."""
        source = _inbound_voice()
        source["conversationEnd"] = "2025-03-10T09:00:00.000Z"
        mapped = map_conversation(source)
        assert mapped.record is not None
        assert mapped.record["duration_seconds"] == -62
        issues = VALIDATOR.check(mapped.record)
        assert [(i.path, i.rule) for i in issues] == [("$.duration_seconds", "minimum")]

    def test_odd_shapes_inside_participants_are_skipped(self) -> None:
        """Non-object participants/sessions and non-list sessions are ignored, not fatal."""
        source = _inbound_voice()
        source["participants"] = ["x", None, {"purpose": "agent", "sessions": "none"}] + source[
            "participants"
        ]
        record = _accepted(map_conversation(source))
        assert record["caller_number"] == "+13175550100"
        assert record["metadata"] == {"agent_id": AGENT}

    def test_mapping_does_not_modify_the_source(self) -> None:
        """The source object is left exactly as it was (it goes to the DLQ as evidence)."""
        source = _inbound_voice()
        before = copy.deepcopy(source)
        map_conversation(source)
        assert source == before

    def test_conversation_start(self) -> None:
        """conversationStart parses to aware UTC; anything unusable is None."""
        assert conversation_start(_inbound_voice()) == datetime(2025, 3, 10, 9, 1, 2, tzinfo=UTC)
        assert conversation_start({"conversationStart": "2025-03-10T10:01:02+01:00"}) == datetime(
            2025, 3, 10, 9, 1, 2, tzinfo=UTC
        )
        assert conversation_start({"conversationStart": "2025-03-10T09:01:02"}) == datetime(
            2025, 3, 10, 9, 1, 2, tzinfo=UTC
        )
        unusable: list[Any] = [
            {},
            {"conversationStart": 5},
            {"conversationStart": "soon"},
            [],
            None,
        ]
        for bad in unusable:
            assert conversation_start(bad) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=15,
)
_START = st.sampled_from(["2025-03-10T09:00:00.000Z", "2025-03-10T09:05:00+02:00"])
_TIME = _START | st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"])
_SESSION = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": _JSON | st.sampled_from(["voice", "chat", "email"]),
        "direction": _JSON | st.sampled_from(["inbound", "outbound"]),
        "ani": _JSON | st.just("tel:+1"),
        "dnis": _JSON,
        "outboundCampaignId": _JSON,
    },
)
_PARTICIPANT = st.fixed_dictionaries(
    {},
    optional={
        "purpose": _JSON | st.sampled_from(["customer", "agent", "ivr"]),
        "userId": _JSON,
        "sessions": st.lists(_SESSION | _JSON, max_size=3) | _JSON,
    },
)
_CONVERSATION = st.fixed_dictionaries(
    {"conversationId": st.just(CONV), "conversationStart": _START},
    optional={
        "conversationEnd": _TIME | _JSON,
        "originatingDirection": st.sampled_from(["inbound", "outbound"]) | _JSON,
        "participants": st.lists(_PARTICIPANT, max_size=4) | st.lists(_PARTICIPANT | _JSON),
    },
)


@settings(max_examples=200, deadline=None, database=None)
@given(_JSON)
def test_map_conversation_never_raises_on_arbitrary_json(source: Any) -> None:
    """Any JSON value maps to a Mapped; non-objects and id-less objects are parse rejections."""
    mapped = map_conversation(source)
    assert all(issue.rule != "mapper_error" for issue in mapped.issues)
    assert (mapped.stage, mapped.record) == ("parse", None)
    assert mapped.issues


@settings(max_examples=300, deadline=None, database=None)
@given(_CONVERSATION)
def test_map_conversation_never_raises_on_odd_conversations(source: dict[str, Any]) -> None:
    """Conversation-shaped objects with odd fields map (or are rejected) without raising.

    The record never holds nulls, keeps the id, and the internal guard never has to fire.
    """
    mapped = map_conversation(source)
    assert all(issue.rule != "mapper_error" for issue in mapped.issues)
    assert mapped.stage == "mapping"
    assert mapped.record is not None
    assert mapped.record["interaction_id"] == CONV
    assert None not in mapped.record.values()
    assert None not in mapped.record.get("metadata", {}).values()
    assert mapped.record.get("metadata", True)
    assert isinstance(VALIDATOR.check(mapped.record), list)


def test_simulated_conversations_map_and_validate() -> None:
    """A few thousand simulator conversations: none raises; accepted and rejected both occur.

    Rejections show up at both stages: still-active conversations at mapping, and media the
    contract does not carry (email, message, ...) or sip/anonymous numbers at validation.
    """
    from producer.platforms.genesys.simulator.data import arrivals_between, record

    start_ms = int(datetime(2025, 3, 10, 9, tzinfo=UTC).timestamp() * 1000)
    end_ms = start_ms + 3_600_000
    outcomes: dict[str, int] = {"accepted": 0, "mapping": 0, "parse": 0, "validation": 0}
    for arrival in arrivals_between(11, 3000.0, start_ms, end_ms):
        source = record(arrival, end_ms)
        started = conversation_start(source)
        assert started is not None
        assert int(started.timestamp() * 1000) == arrival.start_ms
        mapped = map_conversation(source)
        if not mapped.ok:
            outcomes[mapped.stage] += 1
            continue
        assert mapped.record is not None
        outcomes["accepted" if not VALIDATOR.check(mapped.record) else "validation"] += 1
    assert sum(outcomes.values()) >= 2000
    assert outcomes["parse"] == 0
    assert min(outcomes["accepted"], outcomes["mapping"], outcomes["validation"]) > 0
    assert outcomes["accepted"] > outcomes["mapping"] + outcomes["validation"]
