"""Step 3 (map): the registry of business domains and what each plugs into the flow.

A ``DomainSpec`` (``spec.py``) names a domain's planner (which windows are due: consecutive
windows or weekly snapshots), its extractor (how its source objects are fetched for a window),
its mapper (source object → contract record or rejection), and how to read a source object's
time and identity (to assign it to exactly one window and drop repeats). Each domain's folder
(its ``spec`` and one mapper per platform) is owned by that domain's team; this registry only
looks the specs up. ``domain_spec(name, platform)`` gives a domain's spec on its configured
source platform: on NICE CXone the mapper, window key and identity come from
``producer.platforms.nice.registry`` (the extractor is built there too, from the domain's CXone
clients, so ``make_extractor`` is the Genesys one's and unused).
"""

from __future__ import annotations

from dataclasses import replace

from producer.domains.mapped import Mapped
from producer.domains.quality.spec import SPEC as QUALITY
from producer.domains.spec import DomainSpec, Extractor
from producer.domains.telephony.spec import SPEC as TELEPHONY
from producer.domains.wfm.spec import SPEC as WFM

__all__ = ["DomainSpec", "Extractor", "Mapped", "domain_spec"]

_SPECS = {spec.name: spec for spec in (TELEPHONY, QUALITY, WFM)}


def domain_spec(name: str, platform: str = "genesys") -> DomainSpec:
    """The spec of a known domain on ``platform``; KeyError for an unknown name, ``ConfigError``
    (one line) for a domain the platform cannot feed (WFM on CXone)."""
    spec = _SPECS[name]
    if platform == "genesys":
        return spec
    from producer.platforms.nice.registry import nice_spec  # it imports this module

    nice = nice_spec(name)
    return replace(
        spec, map_record=nice.map_record, record_time=nice.record_time, record_id=nice.record_id
    )
