"""Side channel: what ``/healthz`` and ``/readyz`` report, from the state the workers update.

``Health`` holds one ``DomainStatus`` per enabled domain. A domain is ready when it has not
failed for good (a configuration error: it is not restarted), its worker is running, its token
source holds a valid token, its last contact with the lake (and its event stream, if any)
succeeded and its window attempts are not failing in a row; the reason it is not ready is a
short, secret-free string (``"invalid_client"``, ``"lake: ..."``, ``"stream: ..."``).
Pure state: no I/O, no locks (one event loop owns it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["DomainStatus", "Health"]


@dataclass
class DomainStatus:
    """What one domain's supervisor, worker and token task say about themselves."""

    worker_running: bool = False
    lake_error: str | None = None
    stream_error: str | None = None  # a publish to the event stream failed; cleared on success
    worker_error: str | None = None
    failed: str | None = None  # a permanent failure (bad configuration): never restarted
    failing_windows: str | None = None  # set after consecutive failed attempts, cleared on success
    token_ready: Callable[[], bool] = field(default=lambda: False)
    token_error: Callable[[], str | None] = field(default=lambda: None)

    def not_ready_reason(self) -> str | None:
        """None when ready, else why not (the most actionable reason first)."""
        if self.failed is not None:
            return f"failed, not restarted: {self.failed}"
        if not self.token_ready():
            return f"no valid token ({self.token_error() or 'not obtained yet'})"
        for what, error in (("lake", self.lake_error), ("stream", self.stream_error)):
            if error is not None:
                return f"{what}: {error}"
        if self.failing_windows is not None:
            return self.failing_windows
        if not self.worker_running:
            return f"worker not running ({self.worker_error or 'starting'})"
        return None


class Health:
    """Liveness and readiness of the process, per domain."""

    def __init__(self, domains: list[str]) -> None:
        self.domains = {name: DomainStatus() for name in domains}
        self.alive = True

    def status(self, domain: str) -> DomainStatus:
        return self.domains[domain]

    def not_ready(self) -> dict[str, str]:
        """Domains that are not ready, with the reason; empty when all are ready."""
        reasons = {name: status.not_ready_reason() for name, status in self.domains.items()}
        return {name: reason for name, reason in reasons.items() if reason is not None}
