"""Step 2 (extract), least privilege: the Genesys Cloud permission each API path needs.

Owns the table of ``docs/permissions.md``: for a request the platform refused with 403, which
permission the domain's OAuth client lacks, so the error names it instead of leaving the operator
to guess. Pure lookups; no I/O.
"""

from __future__ import annotations

__all__ = ["required_permission"]

# Longest prefix first; each entry is documented in docs/permissions.md.
_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("/api/v2/analytics/conversations/details", "analytics:conversationDetail:view"),
    ("/api/v2/quality/evaluations", "quality:evaluation:view"),
    (
        "/api/v2/workforcemanagement/businessunits/",
        "wfm:publishedSchedule:view (or wfm:schedule:view)",
    ),
    (
        "/api/v2/workforcemanagement/businessunits",
        "a WFM business unit view permission (or set MESH_WFM__BUSINESS_UNITS)",
    ),
)


def required_permission(path: str) -> str | None:
    """The permission a request to ``path`` (``/api/v2/...``, query ignored) needs, if known."""
    bare = path.split("?", 1)[0]
    for prefix, permission in _PERMISSIONS:
        if bare.startswith(prefix):
            return permission
    return None
