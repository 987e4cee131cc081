"""Step 3 (map): the registry of business domains and what each plugs into the flow.

Each domain's folder (its ``spec.PLAN`` and one mapper per platform) is owned by that domain's
team; a source platform's folder names the ``Feed`` (mapper, window key, identity) of each domain
it feeds (``producer.platforms``). ``domain_spec(name, platform)`` composes the two: the
``DomainSpec`` the worker runs for a domain on its configured platform. No platform is named
here.
"""

from __future__ import annotations

from producer.domains.mapped import Mapped
from producer.domains.quality.spec import PLAN as QUALITY
from producer.domains.spec import DomainPlan, DomainSpec, Extractor, Feed
from producer.domains.telephony.spec import PLAN as TELEPHONY
from producer.domains.wfm.spec import PLAN as WFM
from producer.settings.names import DEFAULT_PLATFORM

__all__ = ["DomainPlan", "DomainSpec", "Extractor", "Feed", "Mapped", "domain_plan", "domain_spec"]

_PLANS = {plan.name: plan for plan in (TELEPHONY, QUALITY, WFM)}


def domain_plan(name: str) -> DomainPlan:
    """The plan of a known domain; KeyError for an unknown name."""
    return _PLANS[name]


def domain_spec(name: str, platform: str = DEFAULT_PLATFORM) -> DomainSpec:
    """The spec of a known domain on ``platform``; KeyError for an unknown name, ``ConfigError``
    (one line) for a domain the platform cannot feed (WFM on CXone)."""
    plan = _PLANS[name]
    from producer.platforms import source_platform  # its feeds import this package's mappers

    return DomainSpec.of(plan, source_platform(platform).feed(name))
