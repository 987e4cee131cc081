"""Beside a domain's worker during a major migration: who still reads the older major.

While ``MESH_{DOMAIN}__SCHEMA_VERSION`` names two majors, ``watch_subscribers`` reads the lake's
registry (``contracts subscribe``) at start and then every ``interval_s``, sets
``mesh_older_major_subscribers`` per older version and logs ``older_major_unsubscribed`` once no
consumer is left on it: the operator can then write the newest major alone. It only reads and
reports; it never changes what is written, since a reader that never subscribed (an ad-hoc
query) must not lose its data without a person deciding so. A registry that cannot be read is
logged and read again at the next interval; the export goes on regardless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from producer.catalog.publish import subscriptions
from producer.contracts.registry import Contract
from producer.errors import ProducerError
from producer.lake.store import ObjectStore
from producer.telemetry.metrics import DomainMetrics

__all__ = ["watch_subscribers"]

_log = structlog.get_logger("producer.migration")


async def watch_subscribers(
    store: ObjectStore,
    domain: str,
    older: Sequence[Contract],
    metrics: DomainMetrics,
    *,
    once: bool,
    interval_s: float = 3600.0,
) -> None:
    """Report the subscribers of each ``older`` major now, then every ``interval_s`` (not once).

    Runs until cancelled (or returns after the first reading with ``once``). Never raises a
    registry error: it is logged as ``registry_unreadable``.
    """
    while True:
        try:
            found = await subscriptions(store, domain)
        except ProducerError as exc:
            _log.warning("registry_unreadable", error=str(exc), error_type=type(exc).__name__)
        else:
            for contract in older:
                readers = sorted(s.consumer for s in found if s.major == contract.major)
                metrics.older_major_subscribers(contract.version, len(readers))
                if readers:
                    _log.info(
                        "older_major_subscribers", version=contract.version, consumers=readers
                    )
                else:
                    _log.warning(
                        "older_major_unsubscribed",
                        version=contract.version,
                        hint=f"no consumer reads v{contract.major}: set "
                        f"MESH_{domain.upper()}__SCHEMA_VERSION to the newest version alone",
                    )
        if once:
            return
        await asyncio.sleep(interval_s)
