"""Line formats: the data envelope and the dead-letter line, including hostile sources."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.clock import iso_instant
from producer.contracts.registry import load_contracts, select_contract
from producer.envelope import dead_letter_line, envelope_line
from producer.issues import Issue
from producer.settings import default_contracts_dir
from producer.windows import Window

UUID = "550e8400-e29b-41d4-a716-446655440000"
WINDOW = Window(datetime(2025, 3, 10, 9, 0, tzinfo=UTC), datetime(2025, 3, 10, 9, 15, tzinfo=UTC))
REJECTED_AT = datetime(2025, 3, 10, 12, 0, 1, 500_000, tzinfo=UTC)
ISSUES = (
    Issue("$.channel_type", "enum", "'email' is not one of ['voice', 'chat']"),
    Issue("$.conversationEnd", "conversation_active", "conversation has not ended"),
)


def _dlq(source: Any, record: dict[str, Any] | None = None, stage: str = "mapping") -> bytes:
    return dead_letter_line(
        domain="telephony",
        schema_version="1.0",
        window=WINDOW,
        rejected_at=REJECTED_AT,
        stage=stage,
        issues=ISSUES,
        record=record,
        source=source,
    )


def test_envelope_round_trips() -> None:
    """A data line is the guide's envelope: version, domain, data; no trailing newline."""
    contract = select_contract(load_contracts(default_contracts_dir()), "telephony", None)
    record = {
        "interaction_id": UUID,
        "channel_type": "voice",
        "duration_seconds": 312,
        "caller_number": "+13175550100",
        "metadata": {"campaign_id": "c", "agent_id": "a"},
    }
    line = envelope_line(contract, record)
    assert not line.endswith(b"\n")
    assert list(orjson.loads(line)) == ["x-schema-version", "domain", "data"]
    assert orjson.loads(line) == {"x-schema-version": "1.0", "domain": "telephony", "data": record}


def test_dead_letter_line_keeps_everything_for_audit_and_replay() -> None:
    """A DLQ line carries domain, version, window, time, stage, every error, record and source."""
    source = {"conversationId": UUID, "participants": [{"purpose": "customer"}]}
    record = {"interaction_id": UUID, "channel_type": "email"}
    line = _dlq(source, record, stage="validation")
    assert not line.endswith(b"\n")
    assert orjson.loads(line) == {
        "domain": "telephony",
        "x-schema-version": "1.0",
        "window": {"start": "2025-03-10T09:00:00Z", "end": "2025-03-10T09:15:00Z"},
        "rejected_at": "2025-03-10T12:00:01.500000Z",
        "stage": "validation",
        "errors": [
            {"path": "$.channel_type", "rule": "enum", "message": ISSUES[0].message},
            {
                "path": "$.conversationEnd",
                "rule": "conversation_active",
                "message": ISSUES[1].message,
            },
        ],
        "record": record,
        "source": source,
    }


def test_parse_stage_has_null_record() -> None:
    """A source that could not be parsed is kept as is, with a null record."""
    decoded = orjson.loads(_dlq("just a string", None, stage="parse"))
    assert decoded["record"] is None
    assert decoded["source"] == "just a string"
    assert decoded["stage"] == "parse"


def test_unknown_stage_is_a_programming_error() -> None:
    """Only parse, mapping and validation are stages."""
    with pytest.raises(ValueError, match="unknown DLQ stage"):
        _dlq({}, stage="write")


class _BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _odd_sources() -> list[Any]:
    cyclic: dict[str, Any] = {"a": 1}
    cyclic["self"] = cyclic
    deep: Any = "bottom"
    for _ in range(1_000):
        deep = [deep]
    return [
        {1: "int key", (1, 2): "tuple key", None: "none key"},
        {"big": 2**70, "neg": -(2**70), "ok": 1},
        {"lone": "\ud800 surrogate", "\udfff": "key"},
        {"nan": math.nan, "inf": math.inf},
        {"bytes": b"\x00\xff", "set": {1, 2}, "decimal": Decimal("1.5")},
        {"when": datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=2)))},
        {"broken": _BrokenRepr()},
        _BrokenRepr(),
        cyclic,
        deep,
        object(),
    ]


@pytest.mark.parametrize("source", _odd_sources())
def test_odd_sources_never_raise(source: Any) -> None:
    """Whatever the source holds, the DLQ line is written and stays valid JSON."""
    decoded = orjson.loads(_dlq(source, {"interaction_id": UUID}))
    assert decoded["domain"] == "telephony"
    assert len(decoded["errors"]) == 2
    assert decoded["record"] == {"interaction_id": UUID}
    assert "source" in decoded


def test_big_ints_and_surrogates_are_kept_as_text() -> None:
    """Values JSON cannot carry survive as text instead of being dropped."""
    decoded = orjson.loads(_dlq({"big": 2**70, "lone": "a\ud800b", "ok": [1, "x"]}))
    assert decoded["source"] == {"big": str(2**70), "lone": "a\\ud800b", "ok": [1, "x"]}


def test_iso_instant_is_utc_with_z() -> None:
    """Instants are written in UTC with a Z; naive ones are taken as UTC."""
    assert iso_instant(datetime(2025, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))) == (
        "2025-01-01T00:00:00Z"
    )
    assert iso_instant(datetime(2025, 1, 1)) == "2025-01-01T00:00:00Z"


_ANY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(alphabet=st.characters(codec=None), max_size=6)
    | st.binary(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None, database=None)
@given(_ANY)
def test_dead_letter_line_never_raises_property(source: Any) -> None:
    """Arbitrary nested Python values as source always give one parseable JSON line."""
    line = _dlq(source)
    assert b"\n" not in line
    assert orjson.loads(line)["stage"] == "mapping"
