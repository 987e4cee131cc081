"""Simulator data: the conversation shapes of digital channels, callbacks and odd media.

chat, email and message (customer → acd → agent, no ani/dnis, some abandoned), callbacks
(acd and agent callback sessions plus the voice call to the customer) and the few odd media
types a strict contract would reject. Composed from ``legs.py``; used by ``conversations.py``.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable

from producer.platforms.genesys.simulator.legs import (
    AgentLeg,
    acd_leg,
    agent_leg,
    attributes,
    customer_leg,
    first_session_id,
    phone_number,
    random_agent,
    room_id,
)
from producer.platforms.genesys.simulator.timeline import DIRECTORY, JsonDict, Timeline, new_uuid

__all__ = ["Parts", "callback", "digital", "odd"]

Parts = tuple[list[JsonDict | None], JsonDict]
_ODD_MEDIA = ("video", "cobrowse", "screenshare", "unknown")


def digital(media_type: str) -> Callable[[Timeline, int, int], Parts]:
    """The builder for an inbound ``chat``, ``email`` or ``message`` conversation."""

    def build_digital(tl: Timeline, start: int, end: int) -> Parts:
        rng = tl.rng
        queue = rng.choice(DIRECTORY.queues)
        wait = int(min(rng.expovariate(1 / 30_000), (end - start) * 0.3))
        alert = int(min(rng.uniform(2_000, 20_000), (end - start - wait) * 0.2))
        abandoned = rng.random() < 0.05
        customer_fields, segment_fields = _digital_addresses(tl, media_type)
        customer = customer_leg(
            tl,
            media_type,
            start,
            end,
            session_fields=customer_fields,
            segment_fields=segment_fields,
            disconnect=rng.choice(("client", "peer")),
            participant_fields={"attributes": attributes(tl)},
        )
        peer = {"direction": "inbound", "peerId": first_session_id(customer)}
        agent = random_agent(tl)
        queue_end = end if abandoned else start + wait
        legs = [
            customer,
            acd_leg(
                tl,
                media_type,
                queue,
                start,
                queue_end,
                answered_by=None if abandoned else agent,
                session_fields=peer,
            ),
        ]
        if not abandoned:
            responses = [
                ("tAgentResponseTime", rng.randint(5_000, 90_000), start + wait + alert + i)
                for i in range(rng.randint(1, 5))
            ]
            leg = AgentLeg(
                agent,
                queue[0],
                queue_end,
                queue_end + alert,
                end,
                end + int(rng.uniform(5_000, 120_000)),
                max_holds=0,
                session_fields=peer,
                extra_metrics=responses if media_type in ("chat", "message") else [],
            )
            legs.append(agent_leg(tl, media_type, leg))
        return legs, {"originatingDirection": "inbound", "customerParticipation": True}

    return build_digital


def _digital_addresses(tl: Timeline, media_type: str) -> tuple[JsonDict, JsonDict]:
    """Session and segment fields of a digital customer: no ani/dnis on chats and emails."""
    rng = tl.rng
    if media_type == "email":
        sender = f"customer{rng.randrange(10**5)}@example.com"
        subject = f"Order #{rng.randrange(10**6):06d}"
        session = {"direction": "inbound", "addressFrom": sender, "addressTo": "support@sim.test"}
        return session, {"subject": subject}
    if media_type == "message":
        channel = rng.choice(("sms", "whatsapp", "webmessaging", "facebook"))
        origin = phone_number(tl)[4:] if channel in ("sms", "whatsapp") else new_uuid(rng)
        session = {"direction": "inbound", "messageType": channel, "addressFrom": origin}
        return session | {"addressTo": "+18005550100"}, {}
    return {"direction": "inbound", "roomId": room_id(tl)}, {}


def callback(tl: Timeline, start: int, end: int) -> Parts:
    """A callback: queued callback request, agent callback session, then the voice call."""
    rng = tl.rng
    queue = rng.choice(DIRECTORY.queues)
    number = phone_number(tl)
    agent = random_agent(tl)
    wait = int(min(rng.expovariate(1 / 60_000), (end - start) * 0.3))
    dial = int(min(rng.uniform(5_000, 20_000), (end - start - wait) * 0.2))
    callback = {"callbackNumbers": [number], "callbackUserName": "Callback requester"}
    legs = [
        acd_leg(
            tl,
            "callback",
            queue,
            start,
            start + wait,
            answered_by=agent,
            session_fields=callback | {"direction": "inbound", "skipEnabled": True},
        ),
        agent_leg(
            tl,
            "callback",
            AgentLeg(
                agent,
                queue[0],
                start + wait,
                start + wait + dial,
                end,
                end + int(rng.uniform(5_000, 60_000)),
                first_segment="dialing",
                session_fields=callback | {"direction": "outbound"},
            ),
        ),
        customer_leg(
            tl,
            "voice",
            start + wait + dial,
            end,
            session_fields={"direction": "outbound", "ani": DIRECTORY.dnis[0], "dnis": number},
            disconnect="peer",
        ),
    ]
    return legs, {"originatingDirection": "inbound", "customerParticipation": True}


def odd(tl: Timeline, start: int, end: int) -> Parts:
    """A conversation in a media type a voice/chat contract does not expect (video, …)."""
    media = tl.rng.choice(_ODD_MEDIA)
    agent = random_agent(tl)
    legs = [
        customer_leg(
            tl, media, start, end, session_fields={"direction": "inbound"}, disconnect="peer"
        ),
        agent_leg(
            tl,
            media,
            AgentLeg(agent, None, start, start + 1_000, end, end + 5_000, max_holds=0),
        ),
    ]
    return legs, {"originatingDirection": "inbound"}
