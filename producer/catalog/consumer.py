"""The consumer's side of a data product: read a domain's records at the version it declared.

Owns ``project`` (a record of any minor of a major -> the declared version: undeclared fields
dropped, missing optional fields filled from its defaults) and ``LakeConsumer`` (lists the parts
under ``{prefix}/v{MAJOR}/``, decodes them, projects and checks every record). Records of another
major are never yielded, nor are dead-lettered ones. Reads only: it never writes to the lake.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from producer.catalog.publish import fetch_contract, subscriptions
from producer.contracts.registry import Contract
from producer.contracts.validate import Validator
from producer.errors import ConfigError, ContractViolationError
from producer.lake.encode import decode_part
from producer.lake.keys import parse_part_key
from producer.lake.store import ObjectStore

__all__ = ["ConsumedRecord", "ContractViolationError", "LakeConsumer", "ReadStats", "project"]


@dataclass(frozen=True)
class ConsumedRecord:
    """One record as the consumer's version sees it, with where it came from.

    ``data`` is projected to the declared version; ``written_version`` is the ``x-schema-version``
    the producer wrote it with (same major, any minor); ``key`` is the lake object it is in.
    """

    data: dict[str, Any]
    written_version: str
    key: str


@dataclass
class ReadStats:
    """Counts of one ``records`` call: objects read, records yielded, and how many needed work.

    ``projected`` records were written at another minor; ``other_major`` lines (a stray envelope
    of another major inside ``v{MAJOR}/``) were skipped, never yielded.
    """

    objects: int = 0
    records: int = 0
    projected: int = 0
    other_major: int = 0


def project(data: Mapping[str, Any], contract: Contract) -> dict[str, Any]:
    """``data`` as ``contract``'s version sees it. Pure; ``data`` is not changed.

    Keeps only the fields the schema declares (recursively, through nested objects and arrays of
    objects), then fills each missing optional field that has a default (dotted names; a nested
    default only when its parent object is present). A field whose schema declares no
    ``properties`` is kept whole.
    """
    projected = _keep_declared(data, contract.schema)
    result: dict[str, Any] = projected if isinstance(projected, dict) else {}
    for name in sorted(contract.defaults, key=lambda n: n.count(".")):
        *parents, leaf = name.split(".")
        node: Any = result
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf not in node:
            node[leaf] = copy.deepcopy(contract.defaults[name])
    return result


class LakeConsumer:
    """Reads one domain's data product for one declared contract version.

    ``prefix`` is the product's output port (default: the contract's ``destination``). Only
    ``{prefix}/v{MAJOR}/`` is read, so a consumer pinned to 1.x never sees 2.x records, even
    while a domain writes both majors side by side. Every yielded record has been projected to
    the declared version and checked against it (``ContractViolationError`` if it does not fit,
    which ``contracts check`` rules out for records written under a compatible minor).
    """

    def __init__(
        self, store: ObjectStore, contract: Contract, *, prefix: str | None = None
    ) -> None:
        self.store = store
        self.contract = contract
        self.prefix = (contract.destination if prefix is None else prefix).strip("/")
        self.stats = ReadStats()
        self._validator = Validator(contract)

    @classmethod
    async def declared(
        cls, store: ObjectStore, domain: str, version: str, *, prefix: str | None = None
    ) -> LakeConsumer:
        """A consumer of ``domain`` at ``version``, the contract read from the lake's registry.

        Raises ``ConfigError`` if that version is not published.
        """
        contract = await fetch_contract(store, domain, version)
        if contract is None:
            raise ConfigError(f"{domain} {version} is not published in {store.description}")
        return cls(store, contract, prefix=prefix)

    @classmethod
    async def subscribed(
        cls, store: ObjectStore, domain: str, consumer: str, *, prefix: str | None = None
    ) -> LakeConsumer:
        """A consumer reading the version ``consumer`` subscribed to (``contracts subscribe``).

        Raises ``ConfigError`` if ``consumer`` has no subscription to ``domain``.
        """
        for subscription in await subscriptions(store, domain):
            if subscription.consumer == consumer:
                return await cls.declared(store, domain, subscription.version, prefix=prefix)
        raise ConfigError(f"consumer {consumer!r} has no subscription to {domain}")

    async def records(
        self, *, start: datetime | None = None, end: datetime | None = None
    ) -> AsyncIterator[ConsumedRecord]:
        """Every record of the declared major, in key order (time order within the product).

        With ``start``/``end``, only parts whose window overlaps ``[start, end)``. Counts go to
        ``self.stats`` (reset per call). Raises ``ContractViolationError`` naming the object and
        line for a broken line, and ``StoreError`` from the store.
        """
        self.stats = ReadStats()
        major = self.contract.major
        folder = f"{self.prefix}/v{major}/" if self.prefix else f"v{major}/"
        for key in await self.store.list_keys(folder):
            try:
                part = parse_part_key(key)
            except ValueError:
                continue  # not a data part (a stray object under the folder)
            if part.domain != self.contract.domain or part.major != major:
                continue
            if (start is not None and part.window.end <= start) or (
                end is not None and part.window.start >= end
            ):
                continue
            found = await self.store.get(key)
            if found is None:
                continue  # replaced by a re-run since the listing
            self.stats.objects += 1
            for number, line in enumerate(_lines(key, found.data, part.compression), start=1):
                record = self._record(key, number, line)
                if record is not None:
                    self.stats.records += 1
                    yield record

    def _record(self, key: str, number: int, line: bytes) -> ConsumedRecord | None:
        where = f"{self.store.description}/{key} line {number}"
        try:
            envelope = orjson.loads(line)
            version = str(envelope["x-schema-version"])
            data = envelope["data"]
            major = int(version.split(".", maxsplit=1)[0])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ContractViolationError(
                f"{where}: not an envelope ({type(exc).__name__})"
            ) from None
        if envelope.get("domain") != self.contract.domain or not isinstance(data, dict):
            raise ContractViolationError(f"{where}: not a {self.contract.domain} envelope")
        if major != self.contract.major:
            self.stats.other_major += 1
            return None
        projected = project(data, self.contract)
        if version != self.contract.version:
            self.stats.projected += 1
        issues = self._validator.check(projected)
        if issues:
            first = issues[0]
            raise ContractViolationError(
                f"{where}: a {version} record does not fit {self.contract.version}: "
                f"{first.path} {first.rule}: {first.message}"
            )
        return ConsumedRecord(projected, version, key)


def _lines(key: str, data: bytes, compression: str) -> list[bytes]:
    try:
        return decode_part(data, compression)
    except ValueError as exc:
        raise ContractViolationError(f"{key}: {exc}") from None


def _keep_declared(value: Any, schema: Any) -> Any:
    """``value`` with only what ``schema`` declares; values of undeclared shape are kept whole."""
    if not isinstance(schema, Mapping):
        return copy.deepcopy(value)
    properties = schema.get("properties")
    if isinstance(value, dict) and isinstance(properties, Mapping):
        return {
            name: _keep_declared(item, properties[name])
            for name, item in value.items()
            if name in properties
        }
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, Mapping):
        return [_keep_declared(item, items) for item in value]
    return copy.deepcopy(value)
