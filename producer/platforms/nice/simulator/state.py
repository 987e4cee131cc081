"""CXone simulator state: configuration, fault switches, tokens, jobs and observations.

One ``NiceSimulator`` per served pair of hosts. Tests and the demo drive it through its
switches (``faults``, ``revoke_tokens``, ``revoke_after_next_job``, ``shift_next_pages``,
``fail_next_jobs``, ``expire_next_urls``, ``spoil_next_downloads``) and read what it
observed (``requests``, ``extraction_calls``, ``tokens_issued``). Unconfirmed facts of the
reference sheet are knobs, not constants. Tokens are kept only to check them; observations
carry a fingerprint, never a token. No sockets here.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from producer.platforms.genesys.simulator.faults import FaultPlan

__all__ = [
    "ExtractionCall",
    "Job",
    "NiceSimulator",
    "NiceSimulatorConfig",
    "RequestRecord",
    "fingerprint",
]

DownloadSpoil = Literal["truncate", "empty"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def fingerprint(token: str) -> str:
    """First 8 hex digits of the token's SHA-256: safe to log and compare."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


@dataclass
class NiceSimulatorConfig:
    """Knobs of the simulated CXone tenant (defaults as the reference sheet says)."""

    access_keys: dict[str, str]  # access key id -> secret
    tenant_id: str = "11eb0bd2-0e5c-4a45-9e16-tenant000001"
    business_unit_id: int = 4600001
    area: str = "na1"
    cluster: str = "c42"
    token_lifetime_seconds: int = 3600
    api_versions: tuple[str, ...] = ("v21.0", "v23.0", "v24.0", "v27.0", "v30.0")
    epoch: datetime = datetime(2025, 3, 10, tzinfo=UTC)  # the first contact's hour
    contacts_per_hour: float = 40.0
    seed: int = 7
    report_lag_seconds: float = 60.0  # a contact is in contacts/completed this long after it ends
    date_filter: Literal["start", "end"] = "start"  # what startDate/endDate select (unconfirmed)
    default_top: int = 100  # unconfirmed
    max_top: int = 10_000  # "10K records per response" (a client's comment)
    rate_limit_per_minute: int = 0  # Reporting API budget per token (0: none); 429, no Retry-After
    extraction_interval_seconds: float = 30.0  # one Data Extraction call per tenant per this
    job_running_seconds: float = 0.3
    job_retention_seconds: float = 86_400.0  # then EXPIRED
    url_ttl_seconds: float = 30.0
    qm_versions: tuple[str, ...] = ("1", "3", "4")
    now: Callable[[], datetime] = _utc_now
    monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the simulator saw it (no token, only its fingerprint)."""

    host: Literal["area", "api"]
    method: str
    path: str
    query: str
    status: int
    token: str | None


@dataclass(frozen=True, slots=True)
class ExtractionCall:
    """One Data Extraction call: when (simulator monotonic), by which key, answered how."""

    at: float
    key_id: str
    method: str
    path: str
    status: int


@dataclass
class Job:
    """A Data Extraction job of the tenant."""

    id: str
    entity: str
    start: str
    end: str
    created: float
    outcome: Literal["SUCCEEDED", "FAILED", "CANCELLED"] = "SUCCEEDED"
    message: str = ""


@dataclass
class _Token:
    key_id: str
    expires: float


@dataclass
class NiceSimulator:
    """The simulated tenant's mutable state (see the module docstring)."""

    config: NiceSimulatorConfig
    auth_url: str = ""  # set once the hosts are bound
    api_url: str = ""
    faults: FaultPlan = field(default_factory=FaultPlan)
    requests: list[RequestRecord] = field(default_factory=list)
    extraction_calls: list[ExtractionCall] = field(default_factory=list)
    tokens_issued: int = 0
    jobs: dict[str, Job] = field(default_factory=dict)
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _last_extraction: float | None = None
    _page_shifts: deque[int] = field(default_factory=deque)
    _job_outcomes: deque[tuple[str, str]] = field(default_factory=deque)
    _expired_urls: int = 0
    # Result rows of a job's days, built once (deterministic data); filtered by "now" per
    # download. Keyed by the data's parameters too, should a test change them.
    csv_rows: dict[tuple[object, ...], list[tuple[datetime, list[str]]]] = field(
        default_factory=dict
    )
    _spoiled_downloads: deque[DownloadSpoil] = field(default_factory=deque)
    _rate: dict[str, deque[float]] = field(default_factory=dict)
    revoke_after_next_job: bool = False  # a 401 mid-export: tokens die once a job is created

    # -- switches ------------------------------------------------------------------------------

    def revoke_tokens(self) -> None:
        """Every token issued so far answers 401 from now on (a mid-export expiry)."""
        self._tokens.clear()

    def shift_next_pages(self, delta: int, n: int = 1) -> None:
        """The next ``n`` contacts pages asked with ``skip > 0`` start ``delta`` rows off:
        -1 repeats the previous page's last contact, +1 loses one (rows moved while paging)."""
        self._page_shifts.extend([delta] * n)

    def fail_next_jobs(self, n: int = 1, state: str = "FAILED", message: str = "") -> None:
        """The next ``n`` jobs created end ``state`` (FAILED with ``message``, or CANCELLED)."""
        self._job_outcomes.extend([(state, message or "Internal error")] * n)

    def expire_next_urls(self, n: int = 1) -> None:
        """The next ``n`` result URLs handed out are already expired."""
        self._expired_urls += n

    def spoil_next_downloads(self, kind: DownloadSpoil, n: int = 1) -> None:
        """The next ``n`` CSV downloads are cut mid-row (``truncate``) or empty (``empty``)."""
        self._spoiled_downloads.extend([kind] * n)

    # -- tokens --------------------------------------------------------------------------------

    def issue_token(self, key_id: str) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens[token] = _Token(
            key_id, self.config.monotonic() + self.config.token_lifetime_seconds
        )
        self.tokens_issued += 1
        return token

    def key_of(self, token: str) -> str | None:
        """The access key id behind a live token; None when unknown or expired."""
        held = self._tokens.get(token)
        if held is None or self.config.monotonic() >= held.expires:
            return None
        return held.key_id

    def over_rate(self, token: str) -> bool:
        """Count a Reporting request of ``token``; True when it is over the per-minute budget."""
        limit = self.config.rate_limit_per_minute
        if limit <= 0:
            return False
        now = self.config.monotonic()
        window = self._rate.setdefault(fingerprint(token), deque())
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    # -- reporting -----------------------------------------------------------------------------

    def page_shift(self, skip: int) -> int:
        if skip > 0 and self._page_shifts:
            return self._page_shifts.popleft()
        return 0

    # -- data extraction -----------------------------------------------------------------------

    def extraction_allowed(self) -> bool:
        """The tenant rule: a call within ``extraction_interval_seconds`` of the last is refused."""
        now = self.config.monotonic()
        last = self._last_extraction
        if last is not None and now - last < self.config.extraction_interval_seconds:
            return False
        self._last_extraction = now
        return True

    def create_job(self, entity: str, start: str, end: str) -> Job:
        job = Job(str(uuid.uuid4()), entity, start, end, self.config.monotonic())
        if self._job_outcomes:
            state, message = self._job_outcomes.popleft()
            job.outcome = "CANCELLED" if state == "CANCELLED" else "FAILED"
            job.message = message
        self.jobs[job.id] = job
        if self.revoke_after_next_job:
            self.revoke_after_next_job = False
            self.revoke_tokens()
        return job

    def job_state(self, job: Job) -> str:
        age = self.config.monotonic() - job.created
        if age >= self.config.job_retention_seconds:
            return "EXPIRED"
        if age < self.config.job_running_seconds:
            return "RUNNING"
        return job.outcome

    def url_issued_at(self) -> float:
        """When a URL handed out now counts as issued (long ago when armed to be expired)."""
        now = self.config.monotonic()
        if self._expired_urls > 0:
            self._expired_urls -= 1
            return now - self.config.url_ttl_seconds - 1.0
        return now

    def take_download_spoil(self) -> DownloadSpoil | None:
        return self._spoiled_downloads.popleft() if self._spoiled_downloads else None
