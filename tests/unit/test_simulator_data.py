"""The simulator's data generator: deterministic, interval-independent, shaped like §5.4.

Pure functions of ``producer.platforms.genesys.simulator.data``; no server, no event loop.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from producer.platforms.genesys.simulator import data
from producer.platforms.genesys.simulator.filters import compile_filters
from producer.platforms.genesys.simulator.timeline import epoch_ms, format_ms

DAY = epoch_ms(datetime(2025, 3, 10, tzinfo=UTC))
HOUR = 3_600_000
FAR = DAY + 30 * 24 * HOUR  # an availability date after everything generated here
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
STAMP_KEYS = ("conversationStart", "conversationEnd", "segmentStart", "segmentEnd", "emitDate")


def _records(seed: int, per_hour: float, start: int, end: int, available: int = FAR) -> list[Any]:
    chosen = data.select(seed, per_hour, start, end, available)
    return [data.record(arrival, available) for arrival in chosen]


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a nested JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _sessions(record: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for participant in record.get("participants", []):
        for session in participant["sessions"]:
            yield participant, session


@cache
def _sample() -> list[Any]:
    """Six hours at 600/h, built once for the shape tests."""
    return _records(7, 600.0, DAY + 9 * HOUR, DAY + 15 * HOUR)


class TestDeterminism:
    def test_same_seed_same_records(self) -> None:
        """Generating the same interval twice gives identical records, ids included."""
        assert _records(7, 600.0, DAY + 9 * HOUR, DAY + 15 * HOUR) == _sample()

    def test_other_seed_other_records(self) -> None:
        """The seed matters: another seed gives other conversations."""
        other = _records(8, 600.0, DAY + 9 * HOUR, DAY + 15 * HOUR)
        ids = {r["conversationId"] for r in _sample()}
        assert not ids & {r["conversationId"] for r in other}

    @settings(max_examples=25, deadline=None)
    @given(
        a=st.integers(0, 20 * HOUR),
        ab=st.integers(1, 3 * HOUR),
        bc=st.integers(1, 3 * HOUR),
    )
    def test_interval_independence(self, a: int, ab: int, bc: int) -> None:
        """Conversations overlapping [a,c) are exactly those of [a,b) plus those of [b,c)."""
        start, middle, end = DAY + a, DAY + a + ab, DAY + a + ab + bc
        whole = {x.seed for x in data.select(3, 120.0, start, end, FAR)}
        left = {x.seed for x in data.select(3, 120.0, start, middle, FAR)}
        right = {x.seed for x in data.select(3, 120.0, middle, end, FAR)}
        assert whole == left | right

    def test_cutoff_hides_the_future_but_keeps_ids(self) -> None:
        """Seen at an earlier cutoff, a record has no timestamp after it and the same ids."""
        arrival = next(a for a in data.arrivals_between(7, 600.0, DAY, FAR) if a.kind == "voice")
        cutoff = arrival.start_ms + arrival.duration_ms // 2
        early, full = data.record(arrival, cutoff), data.record(arrival, FAR)
        assert "conversationEnd" not in early
        assert "conversationEnd" in full
        stamps = [v for k, v in _walk(early) if k in STAMP_KEYS]
        assert stamps
        assert all(v <= format_ms(cutoff) for v in stamps)
        early_ids = {v for k, v in _walk(early) if k in ("participantId", "sessionId")}
        full_ids = {v for k, v in _walk(full) if k in ("participantId", "sessionId")}
        assert early_ids
        assert early_ids <= full_ids
        assert early["conversationId"] == full["conversationId"]


class TestSelection:
    def test_overlap_and_availability(self) -> None:
        """A job keeps every overlapping conversation and nothing started after availability."""
        start, end = DAY + 10 * HOUR, DAY + 11 * HOUR
        available = DAY + 10 * HOUR + 30 * 60_000
        chosen = data.select(7, 600.0, start, end, available)
        assert any(a.start_ms < start for a in chosen)
        assert all(a.start_ms <= available for a in chosen)
        assert all(a.end_ms > start or a.end_ms > available for a in chosen)
        everything = data.arrivals_between(7, 600.0, start - data.MAX_DURATION_MS, end)
        expected = [a for a in everything if a.start_ms <= available and a.end_ms > start]
        assert chosen == expected

    def test_ids_unique_and_rate_plausible(self) -> None:
        """Ids are unique UUIDs; six hours at 600/h give about 3600 starts."""
        ids = [r["conversationId"] for r in _sample()]
        assert len(ids) == len(set(ids))
        assert all(uuid.UUID(i).version == 4 for i in ids)
        assert 3000 < len(_sample()) < 4300

    def test_order_desc_and_by_end(self) -> None:
        """order_arrivals reverses for desc and sorts open conversations last by end."""
        chosen = data.select(7, 600.0, DAY, DAY + HOUR, DAY + HOUR)
        desc = data.order_arrivals(chosen, "desc", "conversationStart", DAY + HOUR)
        assert desc == chosen[::-1]
        by_end = data.order_arrivals(chosen, "asc", "conversationEnd", DAY + HOUR)
        closed = [a.end_ms for a in by_end if a.end_ms <= DAY + HOUR]
        assert closed == sorted(closed)
        assert by_end[-1].end_ms > DAY + HOUR


class TestShapes:
    def test_timestamps_ids_and_no_empty_fields(self) -> None:
        """ISO-8601 ms Z timestamps; UUID ids; no null, empty list, empty dict or empty string."""
        for record in _sample():
            for key, value in _walk(record):
                assert value is not None, key
                assert value not in ([], {}, ""), key
                if key in STAMP_KEYS:
                    assert STAMP.match(value), (key, value)
            assert record["participants"]

    def test_media_mix_and_addresses(self) -> None:
        """~70 % voice, ~20 % chat; voice carries tel: (sometimes sip:/anonymous), chat none."""
        first_media = Counter(r["participants"][0]["sessions"][0]["mediaType"] for r in _sample())
        share = {m: n / len(_sample()) for m, n in first_media.items()}
        assert 0.6 < share["voice"] < 0.8
        assert 0.15 < share["chat"] < 0.25
        assert {"email", "message", "callback"} <= set(share)
        anis = [s["ani"] for r in _sample() for _, s in _sessions(r) if "ani" in s]
        assert sum(a.startswith("tel:+1") for a in anis) / len(anis) > 0.9
        assert any(a == "anonymous" or a.startswith("sip:") for a in anis)
        for record in _sample():
            for _, session in _sessions(record):
                if session["mediaType"] == "chat":
                    assert "ani" not in session
                    assert "dnis" not in session

    def test_inbound_voice_legs_and_segments(self) -> None:
        """customer → ivr → acd (named after the queue) → agent with alert…interact…wrapup."""
        purposes: Counter[tuple[str, ...]] = Counter()
        for record in _sample():
            parts = [p["purpose"] for p in record["participants"]]
            purposes[tuple(parts)] += 1
            for participant, session in _sessions(record):
                if participant["purpose"] == "agent" and session["mediaType"] == "voice":
                    kinds = [s["segmentType"] for s in session["segments"]]
                    assert kinds[-1] == "wrapup"
                    wrapup = session["segments"][-1]
                    assert "wrapUpCode" in wrapup
        assert purposes[("customer", "ivr", "acd", "agent")] > 0
        assert purposes[("customer", "ivr", "acd")] > 0  # abandoned in queue: no agent
        assert purposes[("customer", "ivr", "acd", "agent", "agent")] > 0  # transferred

    def test_realities_a_contract_must_tolerate(self) -> None:
        """Repeated metric names, ACW after the end, attributes, campaigns, unknown fields."""
        repeated = acw_after_end = campaigns = unknown = odd_media = with_attributes = 0
        for record in _sample():
            with_attributes += any("attributes" in p for p in record["participants"])
            for _, session in _sessions(record):
                names = Counter(m["name"] for m in session.get("metrics", []))
                repeated += any(n > 1 for n in names.values())
                campaigns += "outboundCampaignId" in session
                odd_media += session["mediaType"] in ("video", "cobrowse", "screenshare", "unknown")
                for seg in session["segments"]:
                    if seg["segmentType"] == "wrapup" and "segmentEnd" in seg:
                        acw_after_end += seg["segmentEnd"] > record["conversationEnd"]
                for metric in session.get("metrics", []):
                    assert isinstance(metric["value"], int)
            unknown += bool(
                {"knowledgeBaseIds", "conversationDisposition", "inactivityTimeoutCount"}
                & set(record)
            )
        assert min(repeated, acw_after_end, campaigns, unknown, odd_media) > 0
        assert with_attributes > len(_sample()) // 2

    def test_durations_within_bounds(self) -> None:
        """Conversations last between about 20 s and 40 min."""
        chosen = data.select(7, 600.0, DAY + 9 * HOUR, DAY + 15 * HOUR, FAR)
        assert all(data.MIN_DURATION_MS <= a.duration_ms <= data.MAX_DURATION_MS for a in chosen)


class TestFilters:
    def test_dimension_metric_and_property_predicates(self) -> None:
        """Filters evaluate dimensions, metric ranges and attributes against built records."""
        abandoned = compile_filters(
            {
                "segmentFilters": [
                    {
                        "type": "and",
                        "predicates": [
                            {"type": "metric", "metric": "tAbandon", "operator": "exists"}
                        ],
                    }
                ]
            }
        )
        assert abandoned is not None
        hits = [r for r in _sample() if abandoned(r)]
        assert hits
        assert all(not any(p["purpose"] == "agent" for p in r["participants"]) for r in hits)
        outbound = compile_filters(
            {
                "conversationFilters": [
                    {
                        "type": "or",
                        "predicates": [{"dimension": "originatingDirection", "value": "outbound"}],
                    }
                ]
            }
        )
        assert outbound is not None
        assert all(r["originatingDirection"] == "outbound" for r in _sample() if outbound(r))
        spanish = compile_filters(
            {
                "segmentFilters": [
                    {
                        "type": "and",
                        "predicates": [
                            {"type": "property", "property": "ivr.Language", "value": "es-US"}
                        ],
                    }
                ]
            }
        )
        assert spanish is not None
        assert 0 < sum(map(spanish, _sample())) < len(_sample())
        assert compile_filters({"interval": "x"}) is None
