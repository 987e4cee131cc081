"""Simulator analytics jobs: the lifecycle of one conversation-details job, and its cursors.

State follows elapsed (monotonic) time from submission: QUEUED, then PENDING, then FULFILLED
(or FAILED when the fault switch said so), FULFILLED turning EXPIRED at ``expirationDate``;
DELETE makes it CANCELLED. The job keeps the snapshot taken at submit (arrivals and the
availability date), so paging is stable. Pure: the caller passes the monotonic time; no I/O.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from producer.platforms.genesys.simulator.data import Arrival

__all__ = ["Job", "JobOutcome", "JobState", "format_instant"]

JobState = Literal["QUEUED", "PENDING", "FULFILLED", "FAILED", "CANCELLED", "EXPIRED"]
JobOutcome = Literal["FULFILLED", "FAILED", "EXPIRED"]


def format_instant(when: datetime) -> str:
    """A UTC datetime as ISO-8601 with milliseconds and ``Z``."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass
class Job:
    """One submitted job: its timings, its fate, and the snapshot it pages through.

    ``outcome`` is FULFILLED normally, FAILED to fail at completion, or EXPIRED to expire as
    soon as it completes (``fail_next_job``).
    """

    job_id: str
    submitted_mono: float
    submitted_at: datetime
    queued_seconds: float
    pending_seconds: float
    expiry_seconds: float
    arrivals: list[Arrival]
    available_ms: int
    outcome: JobOutcome = "FULFILLED"
    cancelled: bool = False
    _cursors: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def _run_seconds(self) -> float:
        return self.queued_seconds + self.pending_seconds

    @property
    def _keep_seconds(self) -> float:
        return 0.0 if self.outcome == "EXPIRED" else self.expiry_seconds

    def state(self, mono: float) -> JobState:
        """The state at monotonic time ``mono``."""
        if self.cancelled:
            return "CANCELLED"
        elapsed = mono - self.submitted_mono
        if elapsed < self.queued_seconds:
            return "QUEUED"
        if elapsed < self._run_seconds:
            return "PENDING"
        if self.outcome == "FAILED":
            return "FAILED"
        if elapsed < self._run_seconds + self._keep_seconds:
            return "FULFILLED"
        return "EXPIRED"

    def seconds_to_completion(self, mono: float) -> float:
        """How long until this job leaves QUEUED/PENDING (0 once it has)."""
        return max(0.0, self.submitted_mono + self._run_seconds - mono)

    def status_body(self, mono: float) -> dict[str, Any]:
        """The ``GET …/jobs/{id}`` body: dates only where they apply (empty fields omitted)."""
        state = self.state(mono)
        body: dict[str, Any] = {"state": state, "submissionDate": format_instant(self.submitted_at)}
        completed = self.submitted_at + timedelta(seconds=self._run_seconds)
        if state in ("FULFILLED", "EXPIRED", "FAILED"):
            body["completionDate"] = format_instant(completed)
        if state in ("FULFILLED", "EXPIRED"):
            expires = completed + timedelta(seconds=self._keep_seconds)
            body["expirationDate"] = format_instant(expires)
        if state == "FAILED":
            body["errorMessage"] = "Job failed: an internal error occurred while processing it."
        return body

    def cursor_at(self, offset: int) -> str:
        """The opaque cursor of the page starting at ``offset`` (same offset, same cursor)."""
        digest = hashlib.sha256(f"{self.job_id}:{offset}".encode()).digest()[:24]
        cursor = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        self._cursors[cursor] = offset
        return cursor

    def offset_of(self, cursor: str) -> int | None:
        """The offset a cursor issued by this job points at; None for any other string."""
        return self._cursors.get(cursor)
