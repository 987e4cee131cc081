"""Simulator data: one conversation-detail record (reference §5.4), as a job returns it.

``build()`` turns an arrival (start, duration, kind, seed) into the platform's record shape:
inbound voice (customer → ivr → acd → agent, some abandoned or transferred) and outbound calls
here, chat/email/message/callback/odd media in ``channels.py``, all from ``legs.py``; now and
then an ``anonymous``/``sip:`` ani or a field no contract knows yet. Everything comes from
``Random(seed)``; the cutoff only hides what had not happened yet. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random
from typing import Any

from producer.platforms.genesys.simulator.channels import Parts, callback, digital, odd
from producer.platforms.genesys.simulator.legs import (
    AgentLeg,
    acd_leg,
    agent_leg,
    attributes,
    contact_id,
    customer_leg,
    first_session_id,
    ivr_leg,
    phone_number,
    random_agent,
)
from producer.platforms.genesys.simulator.timeline import (
    DIRECTORY,
    JsonDict,
    Timeline,
    format_ms,
    new_uuid,
)

__all__ = ["KIND_WEIGHTS", "MEDIAN_DURATION_SECONDS", "build"]


# share of arrivals per kind: voice ~70 % (inbound + outbound), chat ~20 %, a realistic rest
KIND_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("voice", 56.0),
    ("outbound", 13.0),
    ("chat", 20.0),
    ("email", 4.0),
    ("message", 3.0),
    ("callback", 2.5),
    ("odd", 1.5),
)
MEDIAN_DURATION_SECONDS: dict[str, float] = {
    "voice": 240.0,
    "outbound": 180.0,
    "chat": 480.0,
    "email": 480.0,
    "message": 420.0,
    "callback": 300.0,
    "odd": 300.0,
}
_ODD_ANI = ("anonymous", "sip:+13175550123@10.27.1.4", "sip:anonymous@anonymous.invalid")
_UNKNOWN_FIELDS: tuple[tuple[str, Any], ...] = (
    ("knowledgeBaseIds", ["3f1c9e1a-0b7e-4c55-9d43-2f5d1b6a7e10"]),
    ("conversationDisposition", {"outcome": "resolved", "source": "agent"}),
    ("inactivityTimeoutCount", 0),
)


def build(start_ms: int, duration_ms: int, kind: str, seed: int, cutoff_ms: int) -> JsonDict:
    """The record of one conversation as the analytics lake holds it at ``cutoff_ms``.

    ``conversationEnd`` is absent if the conversation had not ended by the cutoff; segments,
    metrics and legs after the cutoff are left out. Same inputs, same record (ids included).
    """
    rng = Random(seed)
    conversation_id = new_uuid(rng)
    tl = Timeline(rng, cutoff_ms)
    end_ms = start_ms + duration_ms
    participants, head = _BUILDERS[kind](tl, start_ms, end_ms)
    record: JsonDict = {"conversationId": conversation_id, "conversationStart": format_ms(start_ms)}
    if end_ms <= cutoff_ms:
        record["conversationEnd"] = format_ms(end_ms)
    record |= head
    record["divisionIds"] = [rng.choice(DIRECTORY.divisions)]
    tag, extra = rng.random(), rng.random()
    if tag < 0.05:
        record["externalTag"] = f"CRM-{rng.randrange(10**6):06d}"
    if extra < 0.05:
        name, value = rng.choice(_UNKNOWN_FIELDS)
        record[name] = value
    record["participants"] = [p for p in participants if p is not None]
    if not record["participants"]:
        del record["participants"]
    return record


def _inbound_voice(tl: Timeline, start: int, end: int) -> Parts:
    rng = tl.rng
    span = end - start
    ani = phone_number(tl) if rng.random() >= 0.04 else rng.choice(_ODD_ANI)
    dnis = rng.choice(DIRECTORY.dnis)
    edge = rng.choice(DIRECTORY.edges)
    call = {"direction": "inbound", "ani": ani, "dnis": dnis, "provider": "Edge", "edgeId": edge}
    queue = rng.choice(DIRECTORY.queues)
    ivr_end = start + int(min(rng.uniform(8_000, 60_000), span * 0.35))
    abandoned = rng.random() < 0.08
    wait = int(min(rng.expovariate(1 / 40_000), (end - ivr_end) * 0.4))
    alert = int(min(rng.uniform(2_000, 12_000), (end - ivr_end - wait) * 0.2))
    answer = ivr_end + wait + alert
    transfer = not abandoned and rng.random() < 0.08 and end - answer > 90_000
    mos = round(rng.uniform(3.2, 4.5), 6)
    latency_ms = rng.randint(20, 400)
    customer_fields: JsonDict = call | {
        "sessionDnis": dnis,
        "protocolCallId": new_uuid(rng),
        "remote": rng.choice(("Caller", "Wireless Caller", None)),
        "recording": rng.random() < 0.7 or None,
    }
    if end <= tl.cutoff_ms:
        customer_fields["mediaEndpointStats"] = [
            {
                "codecs": ["audio/opus"],
                "minMos": mos,
                "minRFactor": round(mos * 20.5, 6),
                "maxLatencyMs": latency_ms,
                "receivedPackets": span // 20,
                "eventTime": format_ms(end),
            }
        ]
    customer = customer_leg(
        tl,
        "voice",
        start,
        end,
        session_fields=customer_fields,
        disconnect="endpoint" if abandoned else rng.choice(("endpoint", "peer")),
        participant_fields={"attributes": attributes(tl), "externalContactId": contact_id(tl)},
    )
    peer = first_session_id(customer)
    legs = [
        customer,
        ivr_leg(tl, start, ivr_end, session_fields=call | {"peerId": peer}, queue_name=queue[1]),
    ]
    agent = random_agent(tl)
    queue_end = end if abandoned else answer - alert
    legs.append(
        acd_leg(
            tl,
            "voice",
            queue,
            ivr_end,
            queue_end,
            answered_by=None if abandoned else agent,
            session_fields=call | {"peerId": peer},
        )
    )
    acw_end = end + int(rng.uniform(5_000, 120_000))
    if not abandoned:
        handoff = answer + int((end - answer) * rng.uniform(0.3, 0.6)) if transfer else end
        legs.append(
            agent_leg(
                tl,
                "voice",
                AgentLeg(
                    agent,
                    queue[0],
                    queue_end,
                    answer,
                    handoff,
                    acw_end if not transfer else handoff + int(rng.uniform(5_000, 60_000)),
                    disconnect="transfer" if transfer else rng.choice(("client", "peer")),
                    session_fields=call | {"peerId": peer, "usedRouting": "Standard"},
                    extra_metrics=[("nTransferred", 1, handoff)] if transfer else [],
                ),
            )
        )
        if transfer:
            second_answer = handoff + int(min(rng.uniform(2_000, 10_000), (end - handoff) / 4))
            other = random_agent(tl)
            legs.append(
                agent_leg(
                    tl,
                    "voice",
                    AgentLeg(
                        other,
                        queue[0],
                        handoff,
                        second_answer,
                        end,
                        acw_end,
                        session_fields=call | {"peerId": peer},
                    ),
                )
            )
    head: JsonDict = {"originatingDirection": "inbound"}
    if end <= tl.cutoff_ms:
        head["mediaStatsMinConversationMos"] = mos
        head["mediaStatsMinConversationRFactor"] = round(mos * 20.5, 6)
    head |= {"conversationInitiator": "customer", "customerParticipation": True}
    return legs, head


def _outbound_voice(tl: Timeline, start: int, end: int) -> Parts:
    rng = tl.rng
    customer_number = phone_number(tl)
    org_number = rng.choice(DIRECTORY.dnis)
    campaign = rng.random() < 0.75
    answered = rng.random() >= 0.1
    answer = start + int(min(rng.uniform(5_000, 30_000), (end - start) * 0.3))
    call: JsonDict = {"direction": "outbound", "ani": org_number, "dnis": customer_number}
    call |= {"provider": "Edge", "edgeId": rng.choice(DIRECTORY.edges)}
    agent_fields = dict(call)
    if campaign:
        campaign_id, contact_list_id = rng.choice(DIRECTORY.campaigns)
        agent_fields |= {
            "outboundCampaignId": campaign_id,
            "outboundContactListId": contact_list_id,
            "outboundContactId": f"{rng.getrandbits(64):016x}",
        }
    acw_end = end + int(rng.uniform(5_000, 90_000))
    leg = AgentLeg(
        random_agent(tl),
        None,
        start,
        answer if answered else end,
        end,
        acw_end,
        first_segment="dialing",
        disconnect="client" if answered else "peer",
        session_fields=agent_fields,
        extra_metrics=[("nOutbound", 1, start)],
    )
    legs = [agent_leg(tl, "voice", leg)]
    if answered:
        legs.append(
            customer_leg(
                tl,
                "voice",
                answer,
                end,
                session_fields=call,
                disconnect=rng.choice(("peer", "endpoint")),
                participant_fields={"participantName": "Customer"},
            )
        )
    head = {"originatingDirection": "outbound", "conversationInitiator": "agent"}
    return legs, head | {"customerParticipation": answered}


_BUILDERS: dict[str, Callable[[Timeline, int, int], Parts]] = {
    "voice": _inbound_voice,
    "outbound": _outbound_voice,
    "chat": digital("chat"),
    "email": digital("email"),
    "message": digital("message"),
    "callback": callback,
    "odd": odd,
}
