"""``mesh-producer contracts check | publish | list | subscribe | unsubscribe``: the command line.

Wires the pure rules (``compat``), the released files (``gitref``) and the lake registry
(``publish``) to argparse. Exit codes: 0 ok, 1 a breaking change, a conflict or a store failure,
2 bad input (``ConfigError``, one line, printed by ``producer.cli``). ``check`` needs no
environment; the others read ``MESH_LAKE_URL`` and ``MESH_{DOMAIN}__BUCKET``, never OAuth variables.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from producer.catalog.publish import (
    ContractConflictError,
    Subscription,
    publish_contracts,
    published_versions,
    registry_domains,
    subscribe,
    subscriptions,
    unsubscribe,
)
from producer.contracts.compat import check_contracts, released_changes
from producer.contracts.registry import Contract, load_contracts
from producer.errors import ConfigError, StoreError
from producer.lake.store import ObjectStore, open_store
from producer.settings.registry import RegistrySettings, load_registry_settings

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    """Add ``contracts`` and its commands to ``subparsers``; each sets ``func`` (args -> code)."""
    group = subparsers.add_parser(
        "contracts", help="check, publish and subscribe to versioned data contracts"
    )
    commands = group.add_subparsers(dest="contracts_command", required=True)
    check = commands.add_parser(
        "check", help="lint every contract; within a major, every minor must stay compatible"
    )
    check.add_argument(
        "--against",
        metavar="GIT_REF",
        help="also fail when a version released at this ref (e.g. origin/main) changed",
    )
    _dir_option(check)
    check.set_defaults(func=_check)
    publish = commands.add_parser(
        "publish", help="write every version to the lake's registry, create-only"
    )
    _dir_option(publish)
    publish.add_argument("--domain", help="only this domain")
    publish.set_defaults(func=_publish)
    listing = commands.add_parser("list", help="published versions and their subscribers")
    _dir_option(listing)
    listing.add_argument("--domain", help="only this domain")
    listing.set_defaults(func=_list)
    sub = commands.add_parser("subscribe", help="record the version a consumer reads")
    sub.add_argument("--domain", required=True)
    sub.add_argument("--consumer", required=True)
    sub.add_argument("--version", required=True, metavar="MAJOR.MINOR")
    sub.set_defaults(func=_subscribe)
    unsub = commands.add_parser("unsubscribe", help="remove a consumer's subscription")
    unsub.add_argument("--domain", required=True)
    unsub.add_argument("--consumer", required=True)
    unsub.set_defaults(func=_unsubscribe)


def _dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="contracts folder (default: MESH_CONTRACTS_DIR, else config/contracts)",
    )


def _contracts(args: argparse.Namespace, settings: RegistrySettings) -> dict[str, list[Contract]]:
    directory: Path = args.dir or settings.contracts_dir
    found = load_contracts(directory)
    domain = getattr(args, "domain", None)
    if domain is not None:
        found = {name: versions for name, versions in found.items() if name == domain}
    return found


def _check(args: argparse.Namespace) -> int:
    settings = load_registry_settings()
    contracts = _contracts(args, settings)
    breaches = check_contracts(contracts)
    if args.against:
        from producer.contracts.gitref import contracts_at

        directory: Path = args.dir or settings.contracts_dir
        released = contracts_at(args.against, directory)
        breaches = released_changes(released, contracts, args.against) + breaches
    for breach in breaches:
        print(f"BREAKING {breach}")
    versions = sum(len(v) for v in contracts.values())
    verdict = f"{len(breaches)} breaking change(s)" if breaches else "compatible"
    against = f" against {args.against}" if args.against else ""
    print(f"contracts check{against}: {len(contracts)} domain(s), {versions} version(s): {verdict}")
    return 1 if breaches else 0


def _publish(args: argparse.Namespace) -> int:
    settings = load_registry_settings()
    contracts = _contracts(args, settings)
    if args.domain is not None and not contracts:
        raise ConfigError(f"--domain: no contract files for {args.domain!r}")
    breaches = check_contracts(contracts)
    if breaches:
        for breach in breaches:
            print(f"BREAKING {breach}")
        print("contracts publish: refused, 'contracts check' fails", file=sys.stderr)
        return 1

    async def run(store: ObjectStore, domains: Sequence[str], _: bool) -> None:
        chosen = [c for d in domains for c in contracts[d]]
        for outcome in await publish_contracts(store, chosen):
            where = f"{store.description}/{outcome.key}"
            print(f"{outcome.outcome:9} {outcome.domain} {outcome.version}  {where}")

    return _per_bucket(settings, sorted(contracts), run)


def _list(args: argparse.Namespace) -> int:
    settings = load_registry_settings()
    local = _contracts(args, settings)
    rows: list[tuple[str, ...]] = [("domain", "version", "status", "subscribers")]

    async def run(store: ObjectStore, domains: Sequence[str], lake_bucket: bool) -> None:
        names = set(domains)
        if args.domain is None and lake_bucket:
            # Domains published from elsewhere: whatever else the lake's own registry holds.
            found = await registry_domains(store)
            names |= {name for name in found if settings.bucket(name) is None}
        for domain in sorted(names):
            rows.extend(await _rows(store, domain, local.get(domain, [])))

    domains = [args.domain] if args.domain else sorted(local)
    code = _per_bucket(settings, domains, run, with_lake_bucket=args.domain is None)
    if code == 0:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            print(line.rstrip())
    return code


async def _rows(
    store: ObjectStore, domain: str, local: Sequence[Contract]
) -> list[tuple[str, ...]]:
    published = await published_versions(store, domain)
    subs = await subscriptions(store, domain)
    by_version: dict[str, list[Subscription]] = {}
    for subscription in subs:
        by_version.setdefault(subscription.version, []).append(subscription)
    files = {c.version for c in local}
    versions = sorted({*published, *files, *by_version}, key=_order)
    rows: list[tuple[str, ...]] = []
    for version in versions:
        status = (
            "published"
            if version in published
            else "not published"
            if version in files
            else "missing"  # a subscription to a version the registry does not hold
        )
        names = ", ".join(s.consumer for s in by_version.get(version, [])) or "-"
        rows.append((domain, version, status, names))
    return rows


def _subscribe(args: argparse.Namespace) -> int:
    settings = load_registry_settings()

    async def run(store: ObjectStore, domains: Sequence[str], _: bool) -> None:
        now = datetime.now(UTC)
        new, previous = await subscribe(store, args.domain, args.consumer, args.version, now=now)
        if previous is not None and previous.version == new.version:
            print(f"unchanged {args.consumer} reads {args.domain} {new.version}")
        elif previous is not None:
            print(
                f"moved     {args.consumer} reads {args.domain} {new.version} "
                f"(was {previous.version})"
            )
        else:
            print(f"created   {args.consumer} reads {args.domain} {new.version}")

    return _per_bucket(settings, [args.domain], run)


def _unsubscribe(args: argparse.Namespace) -> int:
    settings = load_registry_settings()

    async def run(store: ObjectStore, domains: Sequence[str], _: bool) -> None:
        previous = await unsubscribe(store, args.domain, args.consumer)
        if previous is None:
            print(f"unchanged {args.consumer} had no subscription to {args.domain}")
        else:
            print(f"removed   {args.consumer} no longer reads {args.domain} {previous.version}")

    return _per_bucket(settings, [args.domain], run)


def _per_bucket(
    settings: RegistrySettings,
    domains: Sequence[str],
    work: Callable[[ObjectStore, Sequence[str], bool], Coroutine[Any, Any, None]],
    *,
    with_lake_bucket: bool = False,
) -> int:
    """Run ``work(store, domains, is_lake_bucket)`` once per bucket holding those registries.

    A domain with ``MESH_{DOMAIN}__BUCKET`` keeps its registry in that bucket, the others in the
    lake's. ``with_lake_bucket`` visits the lake's bucket even when no domain lives there.
    """
    location = settings.lake
    groups: dict[str | None, list[str]] = {None: []} if with_lake_bucket else {}
    for domain in domains:
        groups.setdefault(settings.bucket(domain), []).append(domain)

    async def run_all() -> None:
        for bucket, names in groups.items():
            async with open_store(location, bucket=bucket) as store:
                await work(store, names, bucket is None)

    try:
        asyncio.run(run_all())
    except ContractConflictError as exc:
        print(f"CONFLICT {exc}")
        return 1
    except StoreError as exc:
        print(f"mesh-producer: {exc}", file=sys.stderr)
        return 1
    return 0


def _order(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor)
