"""Governance, the policy source: the validated shape of ``config/governance/consumers.yaml``.

Owns ``GovernanceConfig`` (consumer groups, their IdP scope, the domains and majors they read, the
approved cross-domain use cases) and turns pydantic's errors into one line naming the file and
field. Pure: the file is read by ``files.py``; nothing here knows about buckets or IAM.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from producer.errors import ConfigError
from producer.settings import DomainName

__all__ = ["Approval", "ConsumerGroup", "GovernanceConfig", "Grant", "parse_governance"]

_GROUP_RE = r"^[a-z0-9][a-z0-9-]{0,47}[a-z0-9]$"  # fits an IAM role name with its prefix
_SCOPE_RE = r"^[A-Za-z0-9][A-Za-z0-9:._/-]*$"
_STRICT = ConfigDict(extra="forbid", frozen=True)


class Grant(BaseModel):
    """One domain a group may read, and the contract majors (``v{MAJOR}/``) it may read there;
    ``events``: also the domain's event streams (AWS; every stream of the domain)."""

    model_config = _STRICT

    domain: DomainName
    majors: tuple[int, ...] = Field(min_length=1)
    events: bool = False

    @field_validator("majors")
    @classmethod
    def _distinct_majors(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(major < 0 for major in value):
            raise ValueError("majors are whole numbers >= 0")
        if len(set(value)) != len(value):
            raise ValueError("a major is listed twice")
        return tuple(sorted(value))


class Approval(BaseModel):
    """An approved cross-domain use case: who approved reading these domains together, why, until
    when (``expires`` is the last valid day)."""

    model_config = _STRICT

    domains: tuple[DomainName, ...] = Field(min_length=2)
    use_case: str = Field(min_length=3)
    approved_by: str = Field(min_length=2)
    reason: str = Field(min_length=3)
    expires: date

    def covers(self, domains: frozenset[str], today: date) -> bool:
        """True when this approval is still valid on ``today`` (inclusive) for all ``domains``."""
        return today <= self.expires and domains <= set(self.domains)


class ConsumerGroup(BaseModel):
    """A consumer group: one IAM role, one IdP scope, what it reads, and its approvals."""

    model_config = _STRICT

    description: str = ""
    idp_scope: str = Field(pattern=_SCOPE_RE)
    third_party: bool = False
    reads: tuple[Grant, ...] = Field(min_length=1)
    approvals: tuple[Approval, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ConsumerGroup:
        names = [grant.domain for grant in self.reads]
        if len(set(names)) != len(names):
            raise ValueError("reads: a domain is listed twice (list its majors together)")
        for approval in self.approvals:
            extra = sorted(set(approval.domains) - set(names))
            if extra:
                raise ValueError(
                    f"approvals: {', '.join(extra)} approved but not in this group's reads"
                )
        return self

    @property
    def domains(self) -> frozenset[str]:
        """Every domain this group reads."""
        return frozenset(grant.domain for grant in self.reads)

    def reads_events(self, domain: str) -> bool:
        """True when this group may read ``domain``'s event streams."""
        return any(grant.domain == domain and grant.events for grant in self.reads)

    def majors(self, domain: str) -> tuple[int, ...]:
        """The majors of ``domain`` this group reads (empty when it does not read it)."""
        for grant in self.reads:
            if grant.domain == domain:
                return grant.majors
        return ()


class GovernanceConfig(BaseModel):
    """The whole file: the IAM partition, internal-only domains and every consumer group."""

    model_config = _STRICT

    version: Literal[1]
    partition: Literal["aws", "aws-cn", "aws-us-gov"] = "aws"
    internal_domains: tuple[DomainName, ...] = ()
    consumers: dict[str, ConsumerGroup] = Field(min_length=1)

    @field_validator("consumers")
    @classmethod
    def _group_names(cls, value: dict[str, ConsumerGroup]) -> dict[str, ConsumerGroup]:
        for name in value:
            if not re.match(_GROUP_RE, name):
                raise ValueError(
                    f"group name {name!r} must be 2-49 lowercase letters, digits or '-'"
                )
        scopes: dict[str, str] = {}
        for name, group in value.items():
            if group.idp_scope in scopes:
                raise ValueError(
                    f"{name} and {scopes[group.idp_scope]} share the IdP scope "
                    f"{group.idp_scope!r}: one scope maps to one role"
                )
            scopes[group.idp_scope] = name
        return value


def parse_governance(data: Any, source: str) -> GovernanceConfig:
    """Validate already-parsed YAML ``data``; ``ConfigError`` names ``source`` and each field.

    The message is one line, e.g. ``consumers.yaml: consumers.compliance-team.reads.0.domain:
    Input should be 'telephony', 'quality' or 'wfm'``.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'version' and 'consumers'")
    try:
        return GovernanceConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        problems = []
        for error in errors:
            loc = error["loc"]
            if any(len(o["loc"]) > len(loc) and o["loc"][: len(loc)] == loc for o in errors):
                continue  # a consequence of a more precise error inside this field
            field = ".".join(str(part) for part in loc)
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{field}: {message}" if field else message)
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None
