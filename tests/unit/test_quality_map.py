"""Quality mapper: reference-shaped evaluations map as specified; nothing makes it raise."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producer.contracts.registry import load_contracts, select_contract
from producer.contracts.validate import Validator
from producer.domains.quality.genesys import (
    EvaluationSearch,
    Mapped,
    evaluation_changed,
    evaluation_id,
    map_evaluation,
)
from producer.platforms.genesys.simulator import evaluations, scorecards
from producer.settings import default_contracts_dir

EVAL = "3b2f6c1e-8d4a-4f0b-9c7e-5a1d2e3f4a5b"
CONV = "7a3c9a1e-5b7d-4c3e-9f51-2d4b8e6a0c11"
AGENT = "0f4e2d1c-8b7a-4c6d-9e5f-3a2b1c0d9e8f"
EVALUATOR = "9e8d7c6b-5a49-4382-a716-0f1e2d3c4b5a"
FORM = "c4a1e2b3-d5f6-4789-8abc-def012345678"
VALIDATOR = Validator(select_contract(load_contracts(default_contracts_dir()), "quality", "1.0"))


def _ref(kind: str, entity_id: str) -> dict[str, Any]:
    return {"id": entity_id, "selfUri": f"/api/v2/{kind}/{entity_id}"}


def _finished() -> dict[str, Any]:
    """A released, finished evaluation with the fields of reference §6.3."""
    return {
        "id": EVAL,
        "conversation": _ref("conversations", CONV),
        "evaluationForm": {"id": FORM, "name": "Voice Quality v3", "contextId": "ctx"},
        "evaluator": _ref("users", EVALUATOR),
        "agent": _ref("users", AGENT),
        "assignee": _ref("users", EVALUATOR),
        "status": "FINISHED",
        "answers": {
            "totalScore": 83.33333333333334,
            "totalCriticalScore": 100.0,
            "totalNonCriticalScore": 75.0,
            "anyFailedKillQuestions": False,
            "questionGroupScores": [{"questionGroupId": "g", "totalScore": 25.0}],
        },
        "agentHasRead": False,
        "releaseDate": "2025-03-10T09:30:00.000Z",
        "assignedDate": "2025-03-10T08:00:00.000Z",
        "createdDate": "2025-03-10T08:00:00.000Z",
        "changedDate": "2025-03-10T09:30:00.000Z",
        "submittedDate": "2025-03-10T09:30:00.000Z",
        "mediaType": ["CALL"],
        "divisionIds": ["d1"],
        "rescore": False,
        "conversationDate": "2025-03-09T17:12:00.000Z",
        "neverRelease": False,
        "evaluationSource": {"id": "p", "name": "Policy", "type": "Policy"},
        "disputeCount": 0,
        "version": 2,
        "selfUri": f"/api/v2/quality/conversations/{CONV}/evaluations/{EVAL}",
        "someNewField": {"appeared": "without notice"},
    }


def _accepted(mapped: Mapped) -> dict[str, Any]:
    assert mapped.ok, mapped.issues
    assert mapped.record is not None
    assert VALIDATOR.check(mapped.record) == []
    return mapped.record


def _rejections(source: dict[str, Any]) -> list[tuple[str, str]]:
    mapped = map_evaluation(source)
    assert mapped.ok, mapped.issues
    assert mapped.record is not None
    return [(i.path, i.rule) for i in VALIDATOR.check(mapped.record)]


class TestMapEvaluation:
    def test_finished_evaluation_maps_every_field(self) -> None:
        """A finished evaluation fills the whole contract record, scores as floats."""
        assert _accepted(map_evaluation(_finished())) == {
            "evaluation_id": EVAL,
            "conversation_id": CONV,
            "agent_id": AGENT,
            "evaluator_id": EVALUATOR,
            "form_id": FORM,
            "form_name": "Voice Quality v3",
            "status": "FINISHED",
            "total_score": 83.33333333333334,
            "critical_score": 100.0,
            "released_at": "2025-03-10T09:30:00.000Z",
            "changed_at": "2025-03-10T09:30:00.000Z",
            "media_type": "voice",
            "version": 2,
        }

    def test_pending_evaluation_has_no_scores_or_release(self) -> None:
        """Before it is scored an evaluation maps without scores or released_at, and is valid."""
        source = _finished()
        for name in ("answers", "releaseDate", "submittedDate", "agentHasRead"):
            del source[name]
        source["status"] = "PENDING"
        source["version"] = 1
        record = _accepted(map_evaluation(source))
        assert "total_score" not in record
        assert "critical_score" not in record
        assert "released_at" not in record
        assert record["status"] == "PENDING"

    @pytest.mark.parametrize(
        "status", ["PENDING", "INPROGRESS", "FINISHED", "INREVIEW", "RETRACTED"]
    )
    def test_every_reference_status_is_valid(self, status: str) -> None:
        """The five statuses of §6.3 are the contract's enum."""
        source = _finished() | {"status": status}
        assert _accepted(map_evaluation(source))["status"] == status

    def test_timestamps_are_normalised_to_utc_milliseconds(self) -> None:
        """Offsets are converted to UTC; a zone-less time is read as UTC; ms always shown."""
        source = _finished() | {
            "changedDate": "2025-03-10T10:01:02.5+01:00",
            "releaseDate": "2025-03-10T09:01:02",
        }
        record = _accepted(map_evaluation(source))
        assert record["changed_at"] == "2025-03-10T09:01:02.500Z"
        assert record["released_at"] == "2025-03-10T09:01:02.000Z"

    def test_unparseable_release_date_is_left_to_the_contract(self) -> None:
        """A releaseDate that is not a time passes through and fails the date-time format."""
        source = _finished() | {"releaseDate": "next tuesday"}
        assert _rejections(source) == [("$.released_at", "format")]

    def test_missing_agent_fails_validation(self) -> None:
        """An evaluation without an agent maps but is rejected: agent_id is required."""
        source = _finished()
        del source["agent"]
        assert _rejections(source) == [("$.agent_id", "required")]

    def test_missing_conversation_fails_validation(self) -> None:
        """conversation_id is required too."""
        source = _finished() | {"conversation": "not a reference"}
        assert _rejections(source) == [("$.conversation_id", "required")]

    def test_unknown_status_fails_validation(self) -> None:
        """A status the reference does not list is passed through and fails the enum."""
        assert _rejections(_finished() | {"status": "CALIBRATION"}) == [("$.status", "enum")]

    @pytest.mark.parametrize(
        ("answers", "expected"),
        [
            ({"totalScore": 90, "totalCriticalScore": 0}, []),
            ({"totalScore": "90.0"}, [("$.total_score", "type")]),
            ({"totalScore": 100.5}, [("$.total_score", "maximum")]),
            ({"totalCriticalScore": -1.0}, [("$.critical_score", "minimum")]),
            ({"totalScore": True}, [("$.total_score", "type")]),
        ],
    )
    def test_scores_are_percentages(
        self, answers: dict[str, Any], expected: list[tuple[str, str]]
    ) -> None:
        """Scores must be numbers from 0 to 100 (integers are numbers; strings, bools not)."""
        assert _rejections(_finished() | {"answers": answers}) == expected

    @pytest.mark.parametrize(
        ("media", "expected"),
        [
            (["CALL"], "voice"),
            (["CHAT", "EMAIL"], "chat"),
            (["callback"], "callback"),
            ("EMAIL", "email"),
            (["MESSAGE"], "message"),
            (["SOMETHING_NEW"], "something_new"),
        ],
    )
    def test_media_type_speaks_the_telephony_vocabulary(self, media: Any, expected: str) -> None:
        """Quality media strings map to analytics media types; unknown ones are lower-cased."""
        record = _accepted(map_evaluation(_finished() | {"mediaType": media}))
        assert record["media_type"] == expected

    def test_empty_or_odd_media_type(self) -> None:
        """No media type is omitted; a non-string one is left to the contract to reject."""
        assert "media_type" not in _accepted(map_evaluation(_finished() | {"mediaType": []}))
        assert _rejections(_finished() | {"mediaType": [5]}) == [("$.media_type", "type")]

    @pytest.mark.parametrize("source", [None, 5, "x", [], [_finished()]])
    def test_non_object_is_a_parse_rejection(self, source: Any) -> None:
        """Anything but a JSON object is rejected at parse with nothing mapped."""
        mapped = map_evaluation(source)
        assert (mapped.stage, mapped.record) == ("parse", None)
        assert [(i.path, i.rule) for i in mapped.issues] == [("$", "type")]

    @pytest.mark.parametrize(
        ("changes", "paths"),
        [
            ({"id": None}, ["$.id"]),
            ({"id": "  "}, ["$.id"]),
            ({"changedDate": "yesterday"}, ["$.changedDate"]),
            ({"changedDate": 1741600000000}, ["$.changedDate"]),
            ({"changedDate": "0001-01-01T00:30:00+01:00"}, ["$.changedDate"]),
            ({"id": 7, "changedDate": None}, ["$.id", "$.changedDate"]),
        ],
    )
    def test_missing_id_or_changed_date_is_a_parse_rejection(
        self, changes: dict[str, Any], paths: list[str]
    ) -> None:
        """Without an id or a usable changedDate (the window key) the record cannot be placed."""
        mapped = map_evaluation(_finished() | changes)
        assert (mapped.stage, mapped.record) == ("parse", None)
        assert [i.path for i in mapped.issues] == paths

    def test_mapping_does_not_modify_the_source(self) -> None:
        """The source object is left exactly as it was (it goes to the DLQ as evidence)."""
        source = _finished()
        before = copy.deepcopy(source)
        map_evaluation(source)
        assert source == before

    def test_changed_and_id_accessors(self) -> None:
        """evaluation_changed parses changedDate to aware UTC; evaluation_id needs a string."""
        assert evaluation_changed(_finished()) == datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
        assert evaluation_changed({"changedDate": "2025-03-10T10:30:00+01:00"}) == datetime(
            2025, 3, 10, 9, 30, tzinfo=UTC
        )
        assert evaluation_id(_finished()) == EVAL
        unusable: list[Any] = [{}, {"id": 5}, {"id": ""}, {"changedDate": 5}, [], None]
        for bad in unusable:
            assert evaluation_changed(bad) is None
            assert evaluation_id(bad) is None

    def test_extractor_is_exported_with_the_mapper(self) -> None:
        """The domain module names its extractor, as DomainSpec wiring expects."""
        assert EvaluationSearch.__module__ == "producer.platforms.genesys.evaluations"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=15,
)
_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_ODD = _SCALAR | st.lists(_SCALAR, max_size=2) | st.dictionaries(st.text(max_size=4), _SCALAR)
_CHANGED = st.sampled_from(["2025-03-10T09:00:00.000Z", "2025-03-10T09:05:00+02:00"])
_TIME = _CHANGED | st.sampled_from(["0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-05:00"])
_REF = st.fixed_dictionaries({}, optional={"id": _ODD | st.just(AGENT), "name": _ODD}) | _ODD
_EVALUATION = st.fixed_dictionaries(
    {"id": st.just(EVAL), "changedDate": _CHANGED},
    optional={
        "conversation": _REF,
        "agent": _REF,
        "evaluator": _REF,
        "evaluationForm": _REF,
        "status": st.sampled_from(["FINISHED", "Finished"]) | _ODD,
        "answers": st.fixed_dictionaries(
            {}, optional={"totalScore": _ODD, "totalCriticalScore": _ODD}
        )
        | _ODD,
        "releaseDate": _TIME | _ODD,
        "mediaType": st.lists(_ODD | st.just("CALL"), max_size=3) | _ODD,
        "version": _ODD,
    },
)


@settings(max_examples=200, deadline=None, database=None)
@given(_JSON)
def test_map_evaluation_never_raises_on_arbitrary_json(source: Any) -> None:
    """Any JSON value maps to a Mapped without the internal guard firing."""
    mapped = map_evaluation(source)
    assert all(issue.rule != "mapper_error" for issue in mapped.issues)
    if mapped.stage == "parse":
        assert mapped.record is None
        assert mapped.issues
    else:
        assert mapped.ok


@settings(max_examples=200, deadline=None, database=None)
@given(_EVALUATION)
def test_map_evaluation_never_raises_on_odd_evaluations(source: dict[str, Any]) -> None:
    """Evaluation-shaped objects with odd fields map without raising and without nulls;
    validation decides, and always answers with a list."""
    mapped = map_evaluation(source)
    assert mapped.ok
    assert mapped.record is not None
    assert mapped.record["evaluation_id"] == EVAL
    assert mapped.record["changed_at"].endswith("Z")
    assert None not in mapped.record.values()
    assert isinstance(VALIDATOR.check(mapped.record), list)


def test_simulated_evaluations_map_and_validate() -> None:
    """Thousands of simulator evaluations, every saved state of each: none raises, none is a
    parse rejection, most are accepted, and exactly the deliberate quirks are rejected."""
    population = evaluations.Population(
        seed=11,
        evaluations_per_hour=250.0,
        conversations_per_hour=240.0,
        rescore_ratio=0.15,
        quirk_ratio=0.03,
    )
    start_ms = int(datetime(2025, 3, 10, 6, tzinfo=UTC).timestamp() * 1000)
    outcomes: Counter[str] = Counter()
    plans = list(evaluations.plans_created_between(population, start_ms, start_ms + 8 * 3_600_000))
    for plan in plans:
        for revision in plan.revisions:
            source = scorecards.build(plan, revision, {"voice": "CALL", "chat": "CHAT"})
            changed = evaluation_changed(source)
            assert changed is not None
            assert int(changed.timestamp() * 1000) == revision.changed_ms
            mapped = map_evaluation(source)
            assert mapped.ok, mapped.issues
            assert mapped.record is not None
            issues = VALIDATOR.check(mapped.record)
            if not issues:
                outcomes["accepted"] += 1
                continue
            rules = {(i.path, i.rule) for i in issues}
            expected = {("$.agent_id", "required")} if plan.quirk == "no_agent" else set()
            if plan.quirk == "odd_status":
                expected = {("$.status", "enum")}
            assert rules == expected, (plan.quirk, rules)
            outcomes[plan.quirk or "none"] += 1
    assert sum(outcomes.values()) >= 3000
    assert min(outcomes["accepted"], outcomes["no_agent"], outcomes["odd_status"]) > 0
    assert outcomes["accepted"] > 0.9 * sum(outcomes.values())


def test_simulated_evaluations_are_deterministic_per_seed() -> None:
    """Same seed and hour, same evaluations in every run (ids pinned, bodies equal); another
    seed, other ones."""

    def bodies(seed: int) -> list[dict[str, Any]]:
        population = evaluations.Population(seed, 30.0, 240.0, 0.15, 0.03)
        start = int(datetime(2025, 3, 10, 6, tzinfo=UTC).timestamp() * 1000)
        return [
            scorecards.build(plan, plan.revisions[-1], {})
            for plan in evaluations.plans_created_between(population, start, start + 3_600_000)
        ]

    first = bodies(5)
    assert len(first) == 30
    assert first[0]["id"] == "36ca5698-8030-4f55-98a1-48a0a775cb8e"
    assert first[0]["conversation"]["id"] == "215019b2-05f5-42cc-99d9-c2f701580bdc"
    assert first == bodies(5)
    assert {b["id"] for b in first}.isdisjoint({b["id"] for b in bodies(6)})
