"""Step 3 (map) wiring for NICE CXone: which domains the platform can feed, and how.

``nice_spec(domain)`` gives a supported domain's ``producer.domains.Feed`` on CXone (mapper,
window key, identity: ``platform.PLATFORM.feed``) and its extractor factory (Telephony: completed
contacts; Quality: QM workflows by Data Extraction), which takes the domain's ``NiceOptions``
whole (defined in ``options``, below the extractors, and re-exported here).
WFM is not supported: no published-schedule source with a documented host, path and shift
fields exists (``docs/nice.md``), so ``nice_spec("wfm")`` raises ``ConfigError`` with one line
naming the setting, the reason the settings give (``settings.RULES.refuses``). Pure wiring: no
I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from producer.clock import Clock
from producer.domains import Extractor, Feed
from producer.domains.quality import nice as map_quality
from producer.domains.telephony import nice as map_telephony
from producer.errors import ConfigError
from producer.platforms.nice.auth import NiceClients
from producer.platforms.nice.contacts import CompletedContacts
from producer.platforms.nice.extraction import QmWorkflowExtraction
from producer.platforms.nice.options import NiceOptions
from producer.platforms.nice.settings import RULES

__all__ = ["SUPPORTED", "NiceOptions", "NiceSpec", "nice_spec"]

SUPPORTED = ("telephony", "quality")


@dataclass(frozen=True, slots=True)
class NiceSpec:
    """The platform-specific half of a domain's spec on CXone."""

    name: str
    feed: Feed
    make_extractor: Callable[[NiceClients, NiceOptions, Clock], Extractor]


def _contacts(clients: NiceClients, options: NiceOptions, clock: Clock) -> Extractor:
    return CompletedContacts(clients.reporting, clock=clock, options=options)


def _workflows(clients: NiceClients, options: NiceOptions, clock: Clock) -> Extractor:
    return QmWorkflowExtraction(clients, clock=clock, options=options)


_SPECS = {
    "telephony": NiceSpec(
        name="telephony",
        feed=Feed(map_telephony.map_contact, map_telephony.contact_start, map_telephony.contact_id),
        make_extractor=_contacts,
    ),
    "quality": NiceSpec(
        name="quality",
        feed=Feed(
            map_quality.map_workflow, map_quality.workflow_submitted, map_quality.workflow_id
        ),
        make_extractor=_workflows,
    ),
}


def nice_spec(domain: str) -> NiceSpec:
    """The CXone spec of ``domain``; ``ConfigError`` (one line) for one CXone cannot feed."""
    refused = RULES.refuses.get(domain)
    if refused:
        raise ConfigError(f"MESH_{domain.upper()}__PLATFORM={refused}")
    try:
        return _SPECS[domain]
    except KeyError:
        raise ConfigError(
            f"MESH_{domain.upper()}__PLATFORM=nice: unknown domain {domain!r}"
        ) from None
