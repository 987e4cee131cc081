"""CXone simulator, deterministic records: completed contacts and QM workflow rows.

Contact ``i`` (``i >= 0``) starts ``i * 3600 / contacts_per_hour`` seconds after the epoch plus a
seeded jitter; everything about it follows from ``(seed, i)``, so any window is generated on
demand and the same on every run. One version's spelling is used throughout (the newer one:
``contactStartDate``, ``fromAddress``, ``mediaTypeId``, reference §6.8). Some records are built
to be rejected by the producer, at fixed indexes (``REJECTS``): the data carry them, the
producer must dead-letter them. Every third contact has a QM workflow, submitted two hours
after the contact ended, whose CSV row uses headers of the inferred original form (§3.6). Pure.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "CSV_HEADERS",
    "MAX_DURATION_S",
    "REJECTS",
    "Contact",
    "contact",
    "indexes_between",
    "iso",
    "workflow_row",
]

MAX_DURATION_S = 900
CONTACT_ID_BASE = 500_000
_NS = uuid.UUID("0b7e1f52-3c1d-4d55-9a83-6f0c3a9e2b11")

REJECTS = {
    "email_channel": (17, 7),  # i % 17 == 7: mediaTypeId 1 -> channel_type "email" (enum)
    "anonymous_caller": (19, 11),  # fromAddress "anonymous" (pattern)
    "no_duration": (23, 13),  # no totalDurationSeconds (mapping rule no_duration)
    "status_unmapped": (21, 0),  # workflow status "Sent to Agent"
    "no_contact": (27, 9),  # workflow without acdId
    "bad_number": (39, 15),  # scorePercentage "n/a"
}
"""Rejected on purpose: name -> (modulus, remainder) of the contact index."""

CSV_HEADERS = (
    "Tenant Name",
    "Workflow ID",
    "Type",
    "Workflow Status",
    "Plan Name",
    "Form Name",
    "Form Version",
    "Start Date",
    "Submission Date",
    "Last Updated",
    "Score",
    "Score Percentage",
    "Segment ID",
    "Acd ID",
    "Interaction Type",
    "Interaction Start Date",
    "Agent ID",
    "Firstname (Agent)",
    "Lastname (Agent)",
    "Team ID",
    "Phone Number",
    "Firstname (Eva)",
    "Lastname (Eva)",
)


def _is(name: str, index: int) -> bool:
    modulus, remainder = REJECTS[name]
    return index % modulus == remainder


@dataclass(frozen=True, slots=True)
class Contact:
    """One simulated contact: its times (for filtering) and its API object."""

    index: int
    start: datetime
    end: datetime
    updated: datetime
    body: dict[str, Any]


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def _interval(per_hour: float) -> float:
    return 3600.0 / per_hour


def contact(epoch: datetime, per_hour: float, seed: int, index: int) -> Contact:
    """Contact ``index``: deterministic in ``(seed, index)``."""
    rng = random.Random(seed * 1_000_003 + index)
    interval = _interval(per_hour)
    start = epoch + timedelta(seconds=index * interval + rng.uniform(0, interval / 2))
    start = start.replace(microsecond=(start.microsecond // 1000) * 1000)
    duration = rng.randint(30, MAX_DURATION_S)
    end = start + timedelta(seconds=duration)
    updated = end + timedelta(seconds=30)
    outbound = index % 4 == 3
    media = 3 if index % 5 == 2 else 4
    if _is("email_channel", index):
        media = 1
    customer = f"+1555{rng.randint(1_000_000, 9_999_999)}"
    if _is("anonymous_caller", index):
        customer = "anonymous"
    body: dict[str, Any] = {
        "contactId": CONTACT_ID_BASE + index,
        "masterContactId": CONTACT_ID_BASE + index,
        "contactStartDate": iso(start),
        "lastUpdateTime": iso(updated),
        "mediaTypeId": media,
        "mediaTypeName": {1: "Email", 3: "Chat", 4: "Call"}[media],
        "fromAddress": "+18005550100" if outbound else customer,
        "toAddress": customer if outbound else "+18005550100",
        "skillId": 4100 + index % 3,
        "skillName": ["Sales", "Support", "Billing"][index % 3],
        "agentId": 0 if index % 11 == 5 else 2000 + index % 7,
        "campaignId": 9001 if outbound else 0,
        "isOutbound": outbound,
        "abandoned": index % 11 == 5,
        "totalDurationSeconds": duration,
        "inQueueSeconds": rng.randint(0, 60),
        "agentSeconds": max(0, duration - 60),
        "holdCount": 0,
    }
    if _is("no_duration", index):
        del body["totalDurationSeconds"]
    return Contact(index, start, end, updated, body)


def indexes_between(epoch: datetime, per_hour: float, lo: datetime, hi: datetime) -> range:
    """Indexes of every contact that may start, end or be updated within ``[lo, hi)``."""
    interval = _interval(per_hour)
    slack = MAX_DURATION_S + 60 + interval
    first = max(0, int(((lo - epoch).total_seconds() - slack) // interval))
    last = max(0, int(((hi - epoch).total_seconds()) // interval) + 1)
    return range(first, last)


def workflow_row(item: Contact, seed: int, tenant: str) -> dict[str, str] | None:
    """The QM workflow CSV row of ``item`` (header -> value), or None when it has none."""
    index = item.index
    if index % 3 != 0:
        return None
    rng = random.Random(seed * 7_000_003 + index)
    submitted = item.end + timedelta(hours=2, minutes=index % 60)
    updated = submitted + timedelta(minutes=5)
    status = "Sent to Agent" if _is("status_unmapped", index) else "Completed"
    score = "n/a" if _is("bad_number", index) else f"{rng.uniform(40, 100):.1f}"
    channel = item.body["mediaTypeId"]
    return dict(
        zip(
            CSV_HEADERS,
            (
                tenant,
                str(uuid.uuid5(_NS, f"workflow-{seed}-{index}")),
                "Evaluation",
                status,
                "Default plan",
                "Voice quality v2" if channel != 3 else "Chat quality",
                "2",
                iso(item.start),
                iso(submitted),
                iso(updated),
                score if score == "n/a" else str(round(float(score) * 0.8, 1)),
                score,
                str(uuid.uuid5(_NS, f"segment-{seed}-{index}")),
                "" if _is("no_contact", index) else str(item.body["contactId"]),
                "Chat" if channel == 3 else "Voice",
                iso(item.start),
                str(uuid.uuid5(_NS, f"agent-{item.body['agentId']}")),
                "Alex",
                "Agent",
                str(10 + index % 2),
                item.body["fromAddress"],
                "Eve",
                "Evaluator",
            ),
            strict=True,
        )
    )
