"""WFM mapper: reference-shaped shifts map as specified; nothing makes it raise."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.contracts.registry import load_contracts, select_contract
from producer.contracts.validate import Validator
from producer.domains.wfm.genesys import map_shift, shift_id, shift_start
from producer.issues import Issue
from producer.platforms.genesys.schedules import flatten_result
from producer.platforms.genesys.simulator import Simulator, SimulatorConfig
from producer.settings import default_contracts_dir

UNIT = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
AGENT = "0f4e2d1c-8b7a-4c6d-9e5f-3a2b1c0d9e8f"
SHIFT = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
VALIDATOR = Validator(select_contract(load_contracts(default_contracts_dir()), "wfm", "1.0"))


def _activity(start: str, minutes: int, code: str, *, paid: bool = True) -> dict[str, Any]:
    return {
        "startDate": start,
        "lengthMinutes": minutes,
        "description": "",
        "activityCodeId": code,
        "paid": paid,
        "payableMinutes": minutes if paid else 0,
        "externalActivityType": "Coaching",
    }


def _source() -> dict[str, Any]:
    """A flattened shift as ScheduleSearch yields it, shaped like reference §7.2."""
    return {
        "businessUnitId": UNIT,
        "businessUnitTimeZone": "Europe/Berlin",
        "userId": AGENT,
        "shift": {
            "id": SHIFT,
            "startDate": "2025-03-30T06:00:00Z",
            "lengthMinutes": 240,
            "manuallyEdited": False,
            "schedule": {"id": "s1", "weekDate": "2025-03-24", "selfUri": "/x"},
            "activities": [
                _activity("2025-03-30T06:00:00Z", 120, "0"),
                _activity("2025-03-30T08:00:00Z", 30, "2", paid=False),
                _activity("2025-03-30T08:30:00.000Z", 90, "0"),
            ],
        },
    }


def _issues(source: Any) -> list[Issue]:
    mapped = map_shift(source)
    if mapped.issues or mapped.record is None:
        return list(mapped.issues)
    return VALIDATOR.check(mapped.record)


class TestMapping:
    def test_shift_maps_to_the_contract_record(self) -> None:
        """Every contract field comes from the rule in the module docstring; it validates."""
        mapped = map_shift(_source())
        assert mapped.ok
        assert mapped.record == {
            "business_unit_id": UNIT,
            "time_zone": "Europe/Berlin",
            "week": "2025-03-24",
            "agent_id": AGENT,
            "shift_id": SHIFT,
            "shift_start": "2025-03-30T06:00:00Z",
            "length_minutes": 240,
            "activities": [
                {"code": "0", "start": "2025-03-30T06:00:00Z", "length_minutes": 120, "paid": True},
                {"code": "2", "start": "2025-03-30T08:00:00Z", "length_minutes": 30, "paid": False},
                {"code": "0", "start": "2025-03-30T08:30:00Z", "length_minutes": 90, "paid": True},
            ],
        }
        assert VALIDATOR.check(mapped.record) == []

    def test_instants_are_normalised_to_utc(self) -> None:
        """An offset or milliseconds in the source become one UTC form (so snapshots compare)."""
        source = _source()
        source["shift"]["startDate"] = "2025-03-30T08:00:00+02:00"
        source["shift"]["activities"][0]["startDate"] = "2025-03-30T06:00:00.250Z"
        record = map_shift(source).record
        assert record is not None
        assert record["shift_start"] == "2025-03-30T06:00:00Z"
        assert record["activities"][0]["start"] == "2025-03-30T06:00:00.250Z"
        assert VALIDATOR.check(record) == []

    def test_mapping_does_not_mutate_the_source(self) -> None:
        """The DLQ keeps the source as fetched."""
        source = _source()
        before = copy.deepcopy(source)
        map_shift(source)
        assert source == before

    def test_time_and_identity(self) -> None:
        """shift_start reads the shift's UTC start; shift_id is unit/user/shift, or None."""
        assert shift_start(_source()) == datetime(2025, 3, 30, 6, tzinfo=UTC)
        assert shift_id(_source()) == f"{UNIT}/{AGENT}/{SHIFT}"
        no_user = _source() | {"userId": None}
        assert shift_id(no_user) is None
        assert shift_start({"shift": {"startDate": "soon"}}) is None
        assert shift_start([]) is None
        assert shift_id("x") is None


class TestRejections:
    @pytest.mark.parametrize(
        ("change", "path"),
        [
            ({"userId": None}, "$.userId"),
            ({"businessUnitId": ""}, "$.businessUnitId"),
            ({"shift": "not an object"}, "$.shift"),
        ],
    )
    def test_unusable_sources_are_parse_rejections(self, change: dict[str, Any], path: str) -> None:
        """Without unit, agent or a shift object there is no record: stage parse."""
        mapped = map_shift(_source() | change)
        assert (mapped.record, mapped.stage) == (None, "parse")
        assert [i.path for i in mapped.issues] == [path]

    def test_bad_start_is_a_parse_rejection(self) -> None:
        """A shift with no parseable startDate cannot be placed in a window."""
        source = _source()
        source["shift"]["startDate"] = "tuesday"
        mapped = map_shift(source)
        assert mapped.stage == "parse"
        assert [(i.path, i.rule) for i in mapped.issues] == [("$.shift.startDate", "format")]

    @pytest.mark.parametrize(
        ("damage", "expected"),
        [
            (lambda s: s.update(activities=[]), ("$.activities", "minItems")),
            (lambda s: s.update(lengthMinutes=-240), ("$.length_minutes", "minimum")),
            (
                lambda s: s["activities"][0].pop("activityCodeId"),
                ("$.activities[0].code", "required"),
            ),
            (lambda s: s.pop("schedule"), ("$.week", "required")),
            (lambda s: s["activities"][1].update(paid="no"), ("$.activities[1].paid", "type")),
            (
                lambda s: s["activities"][2].update(startDate="later"),
                ("$.activities[2].start", "pattern"),
            ),
        ],
    )
    def test_contract_breaking_shifts_fail_validation(
        self, damage: Any, expected: tuple[str, str]
    ) -> None:
        """Values pass through, so the contract names what is wrong (stage validation)."""
        source = _source()
        damage(source["shift"])
        mapped = map_shift(source)
        assert mapped.ok
        assert expected in [(i.path, i.rule) for i in _issues(source)]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
SHIFT_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "id": JSON | st.just(SHIFT),
        "startDate": JSON | st.just("2025-03-30T06:00:00Z") | st.text(max_size=40),
        "lengthMinutes": JSON,
        "schedule": JSON | st.fixed_dictionaries({"weekDate": JSON}),
        "activities": st.lists(
            JSON
            | st.fixed_dictionaries(
                {},
                optional=dict.fromkeys(
                    ("startDate", "lengthMinutes", "activityCodeId", "paid"), JSON
                ),
            ),
            max_size=3,
        )
        | JSON,
    },
)


class TestNeverRaises:
    @settings(max_examples=200, deadline=None)
    @given(source=JSON)
    def test_arbitrary_json(self, source: Any) -> None:
        """Any JSON value maps to a Mapped result, never an exception."""
        mapped = map_shift(source)
        assert mapped.ok or mapped.issues
        assert all(i.rule != "mapper_error" for i in mapped.issues)  # handled, not caught
        shift_start(source)
        shift_id(source)

    @settings(max_examples=200, deadline=None)
    @given(shift=SHIFT_FIELDS, unit=JSON | st.just(UNIT), user=JSON | st.just(AGENT))
    def test_arbitrary_shift_fields(self, shift: Any, unit: Any, user: Any) -> None:
        """Odd values inside a shift-shaped source never raise, in mapping or validation."""
        source = {"businessUnitId": unit, "userId": user, "shift": shift}
        mapped = map_shift(source)
        assert mapped.ok or mapped.issues
        assert all(i.rule != "mapper_error" for i in mapped.issues)
        if mapped.record is not None and not mapped.issues:
            VALIDATOR.check(mapped.record)


def test_generated_shifts_map_and_validate_with_both_outcomes() -> None:
    """The simulator's shifts (a month, all units) mostly land; the few it breaks on purpose
    are rejected by the contract with the rule that names the defect."""
    now = datetime(2025, 3, 20, tzinfo=UTC)
    sim = Simulator(SimulatorConfig(clients={}, now=lambda: now))
    start = datetime(2025, 3, 3, tzinfo=UTC)
    shifts = sim.shifts(start, start + timedelta(days=28))
    outcomes: Counter[tuple[str, ...]] = Counter()
    for source in shifts:
        assert shift_start(source) is not None
        outcomes[tuple(sorted({i.rule for i in _issues(source)}))] += 1
    assert outcomes[()] > 0.9 * len(shifts)
    assert set(outcomes) - {()} <= {("minimum",), ("minItems",), ("required",)}
    assert len(outcomes) > 1
    assert len({shift_id(s) for s in shifts}) == len(shifts)


def test_flattened_items_are_sorted_and_deduplicated() -> None:
    """flatten_result orders by user, start, id and keeps one copy of a repeated shift; an
    agent schedule without a user is kept for the mapper to reject (nothing silently dropped)."""
    late = {"id": "b", "startDate": "2025-03-30T09:00:00Z"}
    early = {"id": "c", "startDate": "2025-03-30T07:00:00.000Z"}
    result = {
        "businessUnitTimeZone": "UTC",
        "agentSchedules": [
            {"user": {"id": "u2"}, "shifts": [late, early, late]},
            {"user": {"id": "u1"}, "shifts": [late], "fullDayTimeOffMarkers": [{"x": 1}]},
            {"shifts": [early]},
        ],
    }
    items = flatten_result(UNIT, result)
    assert [(i["userId"], i["shift"]["id"]) for i in items] == [
        (None, "c"),
        ("u1", "b"),
        ("u2", "c"),
        ("u2", "b"),
    ]
    assert map_shift(items[0]).stage == "parse"
