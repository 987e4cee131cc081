"""Simulator data: the body of one quality evaluation (reference §6.3), as the search returns it.

``build()`` turns a planned evaluation (``evaluations.py``) and the revision the index shows
into the platform's shape: conversation, form, evaluator/agent/assignee references, status,
answers with float scores once scored, the dates, media type and version. Agent, queue, division
and media come from the evaluated conversation of ``data.py``. A few evaluations break a strict
contract on purpose (no agent, a status no contract knows). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from random import Random

from producer.platforms.genesys.simulator import data
from producer.platforms.genesys.simulator.evaluations import Plan, Revision
from producer.platforms.genesys.simulator.timeline import DIRECTORY, JsonDict, format_ms, new_uuid

__all__ = ["EVALUATORS", "FORMS", "ODD_STATUS", "Form", "build"]

ODD_STATUS = "CALIBRATION"  # a status the reference does not list (the "odd_status" quirk)
_POINTS = (0.0, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class Form:
    """A published evaluation form: question groups of ``questions`` ids each."""

    form_id: str
    name: str
    context_id: str
    groups: tuple[tuple[str, tuple[str, ...], bool], ...]  # (group id, question ids, critical)


def _forms() -> tuple[tuple[Form, ...], tuple[str, ...]]:
    rng = Random("ccaas-simulator-quality-v1")
    shapes = (
        ("Voice Quality v3", (4, 3, 2)),
        ("Digital Quality v2", (3, 3)),
        ("Compliance Check v1", (5,)),
    )
    forms = []
    for name, sizes in shapes:
        form_id, context_id = new_uuid(rng), new_uuid(rng)
        groups = tuple(
            (new_uuid(rng), tuple(new_uuid(rng) for _ in range(size)), index == len(sizes) - 1)
            for index, size in enumerate(sizes)
        )
        forms.append(Form(form_id, name, context_id, groups))
    evaluators = tuple(new_uuid(rng) for _ in range(5))
    return tuple(forms), evaluators


FORMS, EVALUATORS = _forms()
_VOICE_FORM, _DIGITAL_FORM, _COMPLIANCE_FORM = FORMS
_DIGITAL = frozenset({"chat", "email", "message"})


def _ref(kind: str, entity_id: str) -> JsonDict:
    return {"id": entity_id, "selfUri": f"/api/v2/{kind}/{entity_id}"}


@lru_cache(maxsize=16384)  # one per evaluation: every revision shows the same conversation
def _conversation_facts(plan: Plan) -> tuple[str, str, str | None, str, tuple[str, ...]]:
    """(conversation id, agent id, queue id, analytics media type, division ids)."""
    record = data.record(plan.conversation, plan.created_ms)
    participants = [p for p in record.get("participants", []) if isinstance(p, dict)]
    sessions = [s for p in participants for s in p.get("sessions", [])]
    agent = next(
        (p["userId"] for p in participants if p.get("purpose") == "agent" and p.get("userId")),
        None,
    )
    if agent is None:  # an abandoned conversation: the simulator does not cross-check the agent
        agent = Random(f"{plan.seed}:agent").choice(DIRECTORY.agents).user_id
    customer = next((p for p in participants if p.get("purpose") == "customer"), None)
    media_session = customer["sessions"][0] if customer else (sessions[0] if sessions else {})
    queue = next(
        (seg["queueId"] for s in sessions for seg in s.get("segments", []) if "queueId" in seg),
        None,
    )
    media = str(media_session.get("mediaType", "voice"))
    return record["conversationId"], agent, queue, media, tuple(record.get("divisionIds", ()))


def _answers(plan: Plan, form: Form, scored_version: int) -> JsonDict:
    """The scores of one (re)scoring: floats, as the Quality API gives them."""
    rng = Random(f"{plan.seed}:answers:{scored_version}")
    skill = rng.uniform(0.45, 1.0)
    groups: list[JsonDict] = []
    total = maximum = critical = critical_max = 0.0
    failed_kill = False
    for group_id, questions, is_critical in form.groups:
        scores: list[JsonDict] = []
        for question_id in questions:
            points = _POINTS[2] if rng.random() < skill else rng.choice(_POINTS[:2])
            kill = is_critical and points == 0.0 and rng.random() < 0.3
            failed_kill = failed_kill or kill
            answer = {"questionId": question_id, "answerId": new_uuid(rng), "score": points}
            scores.append(answer | {"markedNA": False, "failedKillQuestion": kill})
        group_total = sum(float(s["score"]) for s in scores)
        group_max = _POINTS[-1] * len(questions)
        total, maximum = total + group_total, maximum + group_max
        if is_critical:
            critical, critical_max = critical + group_total, critical_max + group_max
        groups.append(
            {
                "questionGroupId": group_id,
                "totalScore": group_total,
                "maxTotalScore": group_max,
                "markedNA": False,
                "questionScores": scores,
            }
        )
    non_critical_max = maximum - critical_max
    answers: JsonDict = {
        "totalScore": 100.0 * total / maximum,
        "totalCriticalScore": 100.0 * critical / critical_max if critical_max else 100.0,
        "totalNonCriticalScore": (
            100.0 * (total - critical) / non_critical_max if non_critical_max else 100.0
        ),
        "maxTotalRawScore": maximum,
        "anyFailedKillQuestions": failed_kill,
        "questionGroupScores": groups,
    }
    if rng.random() < 0.5:
        answers["comments"] = rng.choice(("Good empathy.", "Verify the caller first.", "Clear."))
    return answers


def build(plan: Plan, revision: Revision, media_types: Mapping[str, str]) -> JsonDict:
    """The evaluation body of ``plan`` in ``revision``, with ``null``/empty fields left out.

    ``media_types`` maps the conversation's analytics media type to the Quality API's string
    (a knob: the reference does not confirm them); an unmapped one is sent upper-cased.
    """
    rng = Random(f"{plan.seed}:body")
    evaluation_id = plan.evaluation_id
    conversation_id, agent_id, queue_id, media, divisions = _conversation_facts(plan)
    if rng.random() < 0.2:
        form = _COMPLIANCE_FORM
    else:
        form = _DIGITAL_FORM if media in _DIGITAL else _VOICE_FORM
    evaluator = rng.choice(EVALUATORS)
    policy = rng.random() < 0.7
    context_id = new_uuid(rng)
    read = rng.random() < 0.6
    extra = rng.random() < 0.05
    status = ODD_STATUS if plan.quirk == "odd_status" else revision.status
    body: JsonDict = {
        "id": evaluation_id,
        "conversation": _ref("conversations", conversation_id),
        "evaluationForm": {
            "id": form.form_id,
            "name": form.name,
            "contextId": form.context_id,
            "selfUri": f"/api/v2/quality/forms/evaluations/{form.form_id}",
        },
        "evaluator": _ref("users", evaluator),
        "assignee": _ref("users", evaluator),
    }
    if plan.quirk != "no_agent":
        body["agent"] = _ref("users", agent_id)
    body["status"] = status
    scored = [r for r in plan.revisions[: revision.version] if r.scored]
    if scored:
        body["answers"] = _answers(plan, form, scored[-1].version)
        if not plan.never_release:
            body["agentHasRead"] = read
            body["releaseDate"] = format_ms(scored[-1].changed_ms)
    body |= {
        "assignedDate": format_ms(plan.created_ms),
        "createdDate": format_ms(plan.created_ms),
        "changedDate": format_ms(revision.changed_ms),
    }
    if scored:
        body["submittedDate"] = format_ms(scored[-1].changed_ms)
    if queue_id is not None:
        body["queue"] = _ref("routing/queues", queue_id)
    body["mediaType"] = [media_types.get(media, media.upper())]
    if divisions:
        body["divisionIds"] = list(divisions)
    body |= {
        "rescore": len(scored) > 1,
        "conversationDate": format_ms(plan.conversation.start_ms),
        "conversationEndDate": format_ms(plan.conversation.end_ms),
        "neverRelease": plan.never_release,
        "assigned": True,
        "redacted": False,
        "isScoringIndex": False,
        "evaluationSource": (
            {"id": context_id, "name": "Random sample 5%", "type": "Policy"}
            if policy
            else {"id": evaluator, "name": "Manual", "type": "User"}
        ),
        "disputeCount": revision.disputes,
        "version": revision.version,
        "evaluationContextId": context_id,
        "selfUri": f"/api/v2/quality/conversations/{conversation_id}/evaluations/{evaluation_id}",
    }
    if extra:
        body["calibrationId"] = new_uuid(rng)  # a field no contract knows yet
    return body
