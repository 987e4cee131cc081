"""The contract registry in the lake: published versions and consumers' subscriptions.

Owns ``_registry/{domain}/{M.m}.json`` (a version, written create-only with If-None-Match: once
published it never changes) and ``_registry/{domain}/subscriptions/{consumer}.json`` (the version
a consumer reads; the consumer's own declaration, so it may be replaced). All I/O goes through an
``ObjectStore`` the caller opened; this module never decides which versions are compatible.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from producer.clock import iso_instant
from producer.contracts.registry import Contract, contract_document, parse_contract
from producer.errors import ConfigError, ContractConflictError, PreconditionFailedError
from producer.lake.keys import registry_key
from producer.lake.store import ObjectStore, Precondition

__all__ = [
    "REGISTRY_DIR",
    "ContractConflictError",
    "PublishOutcome",
    "Subscription",
    "fetch_contract",
    "publish_contracts",
    "published_versions",
    "registry_bytes",
    "registry_domains",
    "subscribe",
    "subscription_key",
    "subscriptions",
    "unsubscribe",
]

REGISTRY_DIR = "_registry"
_CONSUMER = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_VERSION_FILE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.json$")


@dataclass(frozen=True)
class PublishOutcome:
    """What publishing one version did: ``created`` it, or found it ``unchanged`` (identical)."""

    domain: str
    version: str
    key: str
    outcome: Literal["created", "unchanged"]


@dataclass(frozen=True)
class Subscription:
    """A consumer's declaration: it reads ``domain`` at ``version`` (``MAJOR.MINOR``)."""

    domain: str
    consumer: str
    version: str
    subscribed_at: str

    @property
    def major(self) -> int:
        """The major the consumer is pinned to (it never sees records of another major)."""
        return int(self.version.split(".")[0])


def registry_bytes(contract: Contract) -> bytes:
    """The registry object of ``contract``: its canonical document as sorted, indented JSON.

    Deterministic, so publishing the same contract twice gives the same bytes (and ETag).
    """
    text = json.dumps(contract_document(contract), sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def subscription_key(domain: str, consumer: str) -> str:
    """``_registry/{domain}/subscriptions/{consumer}.json``; ``ConfigError`` for a bad name."""
    if not _CONSUMER.match(consumer):
        raise ConfigError(
            f"consumer name {consumer!r} must be 1-100 of a-z, 0-9, '.', '_', '-' "
            "(starting with a letter or digit)"
        )
    return f"{_domain_dir(domain)}subscriptions/{consumer}.json"


async def publish_contracts(
    store: ObjectStore, contracts: Sequence[Contract]
) -> list[PublishOutcome]:
    """Publish every contract create-only; identical versions already there are left alone.

    First reads what the registry holds: if any version exists with other content, raises
    ``ContractConflictError`` naming every such version and writes nothing. Then creates the
    missing versions with If-None-Match; one created concurrently by someone else is accepted
    only if identical. Raises ``StoreError`` from the store.
    """
    conflicts: list[tuple[str, str]] = []
    missing: list[Contract] = []
    outcomes: list[PublishOutcome] = []
    for contract in contracts:
        key = registry_key(contract.domain, contract.version)
        found = await store.get(key)
        if found is None:
            missing.append(contract)
        elif _same_document(found.data, contract):
            outcomes.append(PublishOutcome(contract.domain, contract.version, key, "unchanged"))
        else:
            conflicts.append((contract.domain, contract.version))
    if conflicts:
        raise _conflict(store, conflicts)
    for contract in missing:
        outcomes.append(await _create(store, contract))
    return sorted(outcomes, key=lambda o: (o.domain, _order(o.version)))


async def published_versions(store: ObjectStore, domain: str) -> list[str]:
    """The versions of ``domain`` in the registry, oldest first."""
    prefix = _domain_dir(domain)
    names = (key[len(prefix) :] for key in await store.list_keys(prefix))
    versions = [name.removesuffix(".json") for name in names if _VERSION_FILE.match(name)]
    return sorted(versions, key=_order)


async def registry_domains(store: ObjectStore) -> list[str]:
    """Every domain with something under ``_registry/`` in this store."""
    keys = await store.list_keys(REGISTRY_DIR + "/")
    return sorted({key.split("/")[1] for key in keys if key.count("/") >= 2})


async def fetch_contract(store: ObjectStore, domain: str, version: str) -> Contract | None:
    """The published contract ``domain`` ``version``, or None if it is not published.

    Raises ``ConfigError`` if the registry object is not a valid contract.
    """
    key = registry_key(domain, version)
    found = await store.get(key)
    if found is None:
        return None
    text = found.data.decode("utf-8", errors="replace")
    try:
        return parse_contract(Path(key), text)
    except ConfigError as exc:
        raise ConfigError(f"{store.description}: {exc}") from None


async def subscribe(
    store: ObjectStore, domain: str, consumer: str, version: str, *, now: datetime
) -> tuple[Subscription, Subscription | None]:
    """Record that ``consumer`` reads ``domain`` at ``version``; returns (new, previous).

    The version must be published (``ConfigError`` otherwise, listing what is). Subscribing again
    to the same version changes nothing (the previous subscription is returned as the new one).
    """
    key = subscription_key(domain, consumer)
    published = await published_versions(store, domain)
    if version not in published:
        listed = ", ".join(published) or "none"
        raise ConfigError(
            f"{domain} {version} is not published in {store.description} "
            f"(published: {listed}); run 'mesh-producer contracts publish' first"
        )
    previous = await _read_subscription(store, key)
    if previous is not None and previous.version == version:
        return previous, previous
    subscription = Subscription(domain, consumer, version, iso_instant(now))
    body = json.dumps(asdict(subscription), sort_keys=True, indent=2) + "\n"
    await store.put(key, body.encode("utf-8"))
    return subscription, previous


async def unsubscribe(store: ObjectStore, domain: str, consumer: str) -> Subscription | None:
    """Remove ``consumer``'s subscription to ``domain``; returns it (None if there was none)."""
    key = subscription_key(domain, consumer)
    previous = await _read_subscription(store, key)
    if previous is not None:
        await store.delete(key)
    return previous


async def subscriptions(store: ObjectStore, domain: str) -> list[Subscription]:
    """Every subscription to ``domain``, by consumer name; unreadable ones raise ``ConfigError``."""
    prefix = _domain_dir(domain) + "subscriptions/"
    found: list[Subscription] = []
    for key in await store.list_keys(prefix):
        if key.endswith(".json") and "/" not in key[len(prefix) :]:
            subscription = await _read_subscription(store, key)
            if subscription is not None:
                found.append(subscription)
    return sorted(found, key=lambda s: s.consumer)


async def _create(store: ObjectStore, contract: Contract) -> PublishOutcome:
    key = registry_key(contract.domain, contract.version)
    body = registry_bytes(contract)
    metadata = {"x-schema-version": contract.version, "domain": contract.domain}
    try:
        await store.put(key, body, only_if=Precondition.create(), metadata=metadata)
    except PreconditionFailedError:
        # Published by someone else since we looked: fine only if it is the same contract.
        found = await store.get(key)
        if found is None or not _same_document(found.data, contract):
            raise _conflict(store, [(contract.domain, contract.version)]) from None
        return PublishOutcome(contract.domain, contract.version, key, "unchanged")
    return PublishOutcome(contract.domain, contract.version, key, "created")


def _same_document(data: bytes, contract: Contract) -> bool:
    if data == registry_bytes(contract):
        return True
    try:
        stored: Any = json.loads(data)
    except ValueError:
        return False
    # Same content written with other formatting (an older publisher) is the same version.
    return bool(stored == json.loads(registry_bytes(contract)))


def _conflict(store: ObjectStore, conflicts: Sequence[tuple[str, str]]) -> ContractConflictError:
    listed = ", ".join(f"{domain} {version}" for domain, version in conflicts)
    return ContractConflictError(
        f"{store.description}: the registry already holds different content for {listed}; "
        "a published version is immutable: publish the change as a new version",
        conflicts=conflicts,
    )


async def _read_subscription(store: ObjectStore, key: str) -> Subscription | None:
    found = await store.get(key)
    if found is None:
        return None
    try:
        raw = json.loads(found.data)
        return Subscription(
            domain=str(raw["domain"]),
            consumer=str(raw["consumer"]),
            version=str(raw["version"]),
            subscribed_at=str(raw.get("subscribed_at", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{store.description}/{key}: not a subscription ({type(exc).__name__})"
        ) from None


def _domain_dir(domain: str) -> str:
    """``_registry/{domain}/`` (the domain name is checked by ``registry_key``)."""
    return registry_key(domain, "0.0").rpartition("/")[0] + "/"


def _order(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor)
