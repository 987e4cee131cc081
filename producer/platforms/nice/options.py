"""Step 2 (extract) for NICE CXone: ``NiceOptions``, a domain's extractor knobs in one value.

``wiring.nice_options`` fills it from a domain's settings; ``registry`` hands it whole to the
domain's extractor (``contacts.CompletedContacts``, ``extraction.QmWorkflowExtraction``), each of
which reads the knobs it needs, so a knob added here reaches the extractor without being copied
field by field on the way. Defaults as documented (``docs/nice.md``). Pure declaration.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NiceOptions"]


@dataclass(frozen=True, slots=True)
class NiceOptions:
    """A CXone domain's extractor knobs (filled from its settings; defaults as documented)."""

    page_size: int = 1000
    completion_lag_seconds: float = 7200.0
    max_pages_per_window: int = 10_000
    qm_entity_version: str = "3"
    settle_seconds: float = 1800.0
    extraction_interval_seconds: float = 30.0
    job_max_wait_seconds: float = 1800.0
