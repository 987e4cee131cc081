"""Simulated roles: which permission each simulated API path needs (reference §5-§7), and the
403 a client whose role lacks it gets (reference §3.3: ``missing.permissions``).

A client named in ``SimulatorConfig.client_permissions`` holds exactly the permissions listed
there; any other client holds every permission (the default, as if its role were broad). The
message wording is the simulator's; the platform's code and status are the reference's.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["missing_permission"]

# Each path prefix with the permissions of which one suffices (reference §5, §6, §7).
_NEEDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/api/v2/analytics/conversations/details", ("analytics:conversationDetail:view",)),
    ("/api/v2/quality/evaluations", ("quality:evaluation:view",)),
    (
        "/api/v2/workforcemanagement/businessunits/",
        ("wfm:publishedSchedule:view", "wfm:schedule:view"),
    ),
    ("/api/v2/workforcemanagement/businessunits", ("wfm:businessUnit:view",)),
)


def missing_permission(path: str, held: Collection[str]) -> str | None:
    """The permission a client holding ``held`` lacks for ``path``, or None when allowed."""
    for prefix, any_of in _NEEDS:
        if path.startswith(prefix):
            return None if any(p in held for p in any_of) else any_of[0]
    return None
