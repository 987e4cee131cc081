"""Simulator data: the participant legs that conversations are made of.

``conversations.py`` composes these per media type: a customer leg, an IVR leg, a queue (acd)
leg and an agent leg (alert, interact with holds, wrapup that may end after the conversation).
Each returns a participant dict (or None when nothing of it is visible at the cutoff). All
random draws happen whether or not a piece is visible, so the cutoff never changes ids or values.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from producer.platforms.genesys.simulator.timeline import (
    DIRECTORY,
    Agent,
    JsonDict,
    Timeline,
    new_uuid,
)

__all__ = [
    "AgentLeg",
    "acd_leg",
    "agent_leg",
    "attributes",
    "contact_id",
    "customer_leg",
    "first_session_id",
    "ivr_leg",
    "phone_number",
    "random_agent",
    "room_id",
]


def phone_number(tl: Timeline) -> str:
    """A fictional North American number as a ``tel:`` URI (555 exchange)."""
    area = tl.rng.choice(("317", "212", "415", "646", "773"))
    return f"tel:+1{area}555{tl.rng.randrange(10000):04d}"


def customer_leg(
    tl: Timeline,
    media_type: str,
    start_ms: int,
    end_ms: int,
    *,
    session_fields: JsonDict,
    disconnect: str,
    participant_fields: JsonDict | None = None,
    segment_fields: JsonDict | None = None,
) -> JsonDict | None:
    """The customer's side: one interact segment over the customer's whole stay."""
    seg = tl.segment(
        "interact", start_ms, end_ms, segment_fields, on_end={"disconnectType": disconnect}
    )
    session = tl.session(media_type, [seg], fields=session_fields)
    return tl.participant("customer", [session], participant_fields)


def ivr_leg(
    tl: Timeline, start_ms: int, end_ms: int, *, session_fields: JsonDict, queue_name: str
) -> JsonDict | None:
    """An inbound call flow (IVR) that transfers the caller to a queue at ``end_ms``."""
    flow_id, flow_name = tl.rng.choice(DIRECTORY.flows)
    flow: JsonDict = {
        "flowId": flow_id,
        "flowName": flow_name,
        "flowType": "INBOUNDCALL",
        "flowVersion": f"{tl.rng.randint(1, 40)}.0",
        "entryType": "dnis",
        "entryReason": session_fields.get("dnis"),
        "startingLanguage": "en-us",
    }
    if end_ms <= tl.cutoff_ms:
        flow |= {
            "exitReason": "TRANSFER",
            "transferType": "ACD",
            "transferTargetName": queue_name,
            "endingLanguage": "en-us",
        }
    seg = tl.segment("ivr", start_ms, end_ms, on_end={"disconnectType": "transfer"})
    metrics = [
        tl.metric("nFlow", 1, start_ms),
        tl.metric("tIvr", end_ms - start_ms, end_ms),
        tl.metric("tFlow", end_ms - start_ms, end_ms),
        tl.metric("tFlowExit", end_ms - start_ms, end_ms),
    ]
    session = tl.session("voice", [seg], metrics, fields=session_fields | {"flow": flow})
    return tl.participant("ivr", [session], {"participantName": flow_name})


def acd_leg(
    tl: Timeline,
    media_type: str,
    queue: tuple[str, str],
    start_ms: int,
    end_ms: int,
    *,
    answered_by: Agent | None,
    session_fields: JsonDict,
) -> JsonDict | None:
    """Time in queue; ``answered_by=None`` means the customer abandoned while waiting."""
    queue_id, queue_name = queue
    waited = end_ms - start_ms
    fields = session_fields | {"requestedRoutings": ["Standard"]}
    if answered_by is not None and end_ms <= tl.cutoff_ms:
        fields |= {"usedRouting": "Standard", "selectedAgentId": answered_by.user_id}
    seg = tl.segment(
        "interact",
        start_ms,
        end_ms,
        {"queueId": queue_id},
        on_end={"disconnectType": "transfer" if answered_by else "peer"},
    )
    metrics = [tl.metric("nOffered", 1, start_ms)]
    if answered_by is not None:
        metrics.append(tl.metric("tAcd", waited, end_ms))
    elif waited < 10_000:
        metrics.append(tl.metric("tShortAbandon", waited, end_ms))
    else:
        metrics.append(tl.metric("tAbandon", waited, end_ms))
    session = tl.session(media_type, [seg], metrics, fields=fields)
    return tl.participant("acd", [session], {"participantName": queue_name})


@dataclass
class AgentLeg:
    """When an agent is alerted, answers, stops talking and ends after-call work."""

    agent: Agent
    queue_id: str | None
    alert_ms: int
    answer_ms: int
    talk_end_ms: int
    acw_end_ms: int
    disconnect: str = "client"
    first_segment: str = "alert"
    max_holds: int = 2
    session_fields: JsonDict = field(default_factory=dict)
    extra_metrics: list[tuple[str, int, int]] = field(default_factory=list)


def agent_leg(tl: Timeline, media_type: str, leg: AgentLeg) -> JsonDict | None:
    """The agent's side: alert → interact → (hold → interact)* → wrapup with a wrap-up code.

    The wrapup runs from ``talk_end_ms`` to ``acw_end_ms`` and so may end after the
    conversation. One ``tTalk``/``tHeld`` metric per segment (names repeat), then the totals.
    """
    queue = {"queueId": leg.queue_id} if leg.queue_id else None
    talks, holds = _talk_and_holds(tl, leg)  # drawn always, so later draws never shift
    metrics: list[JsonDict | None] = []
    if leg.answer_ms >= leg.talk_end_ms:
        # never answered (an outbound call nobody picked up): the first segment ends it all
        talks, holds = [], []
        first_end: JsonDict | None = {"disconnectType": leg.disconnect}
    else:
        first_end = None
        waited = leg.answer_ms - leg.alert_ms
        if leg.first_segment == "alert":
            metrics.append(tl.metric("tAlert", waited, leg.answer_ms))
            metrics.append(tl.metric("tAnswered", waited, leg.answer_ms))
        else:
            metrics.append(tl.metric("tDialing", waited, leg.answer_ms))
    first_stop = min(leg.answer_ms, leg.talk_end_ms)
    segments: list[JsonDict | None] = [
        tl.segment(leg.first_segment, leg.alert_ms, first_stop, queue, first_end)
    ]
    for kind, start, end in sorted(talks + holds, key=lambda piece: piece[1]):
        last = end == leg.talk_end_ms
        on_end = {"disconnectType": leg.disconnect} if last else None
        segments.append(tl.segment(kind, start, end, queue, on_end))
        metrics.append(tl.metric("tTalk" if kind == "interact" else "tHeld", end - start, end))
    talked = sum(end - start for _, start, end in talks)
    held = sum(end - start for _, start, end in holds)
    if talks:
        metrics.append(tl.metric("tTalkComplete", talked, leg.talk_end_ms))
    if holds:
        metrics.append(tl.metric("tHeldComplete", held, leg.talk_end_ms))
    code = tl.rng.choice(DIRECTORY.wrapup_codes)
    note = "customer asked for a follow-up" if tl.rng.random() < 0.1 else None
    segments.append(
        tl.segment(
            "wrapup",
            leg.talk_end_ms,
            leg.acw_end_ms,
            queue,
            on_end={"wrapUpCode": code, "wrapUpNote": note},
        )
    )
    acw = leg.acw_end_ms - leg.talk_end_ms
    metrics += [
        tl.metric("tAcw", acw, leg.acw_end_ms),
        tl.metric("tHandle", talked + held + acw, leg.acw_end_ms),
    ]
    metrics += [tl.metric(name, value, at) for name, value, at in leg.extra_metrics]
    session = tl.session(media_type, segments, metrics, fields=leg.session_fields)
    fields = {
        "participantName": leg.agent.name,
        "userId": leg.agent.user_id,
        "teamId": leg.agent.team_id,
    }
    return tl.participant("agent", [session], fields)


def _talk_and_holds(
    tl: Timeline, leg: AgentLeg
) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """Split the talk time into interact pieces separated by 0..max_holds holds."""
    span = leg.talk_end_ms - leg.answer_ms
    n_holds = tl.rng.choice((0, 0, 0, 1, 1, 2))
    n_holds = min(n_holds, leg.max_holds) if span > 90_000 else 0
    talks: list[tuple[str, int, int]] = []
    holds: list[tuple[str, int, int]] = []
    cursor = leg.answer_ms
    for i in range(n_holds):
        remaining_pieces = n_holds - i
        room = (leg.talk_end_ms - cursor) // (remaining_pieces + 1)
        talk = int(room * tl.rng.uniform(0.4, 0.9))
        hold = int(min(room - talk, tl.rng.uniform(10_000, 120_000)))
        talks.append(("interact", cursor, cursor + talk))
        holds.append(("hold", cursor + talk, cursor + talk + hold))
        cursor += talk + hold
    talks.append(("interact", cursor, leg.talk_end_ms))
    return talks, holds


def random_agent(tl: Timeline) -> Agent:
    """Any agent of the simulated org."""
    return tl.rng.choice(DIRECTORY.agents)


def room_id(tl: Timeline) -> str:
    """A chat/message room address."""
    return f"{new_uuid(tl.rng)}@conference.simulator.example"


def attributes(tl: Timeline) -> JsonDict:
    """Participant data (jobs only); values are strings, truncated by the platform at 1024."""
    rng = tl.rng
    attrs = {
        "ivr.Language": rng.choice(("en-US", "es-US", "fr-CA")),
        "ivr.Selection": rng.choice(("billing", "support", "sales", "other")),
        "crm.AccountId": f"AC-{rng.randrange(10**7):07d}",
    }
    if rng.random() < 0.02:
        attrs["crm.Notes"] = ("lorem ipsum " * 100)[:1024]
    return attrs


def contact_id(tl: Timeline) -> str | None:
    """An external contact id for about a third of customers."""
    return new_uuid(tl.rng) if tl.rng.random() < 0.3 else None


def first_session_id(participant: JsonDict | None) -> str | None:
    """The id of a participant's first session (what other legs point at via ``peerId``)."""
    if participant is None:
        return None
    session_id: str = participant["sessions"][0]["sessionId"]
    return session_id
