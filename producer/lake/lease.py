"""Steps 5-6, fence: the domain's writer lease, so one writer at a time changes its objects.

Owns ``{prefix}/_state/lease.json`` (beside the checkpoint, present only while a writer holds the
domain): who holds it (``owner``, its machine and process) and for how long (``ttl_seconds``). It
is taken and renewed only by compare-and-swap on its ETag, and deleted on release.
``DomainLease.guarded`` runs every put, delete and commit of the writer (and of ``dlq replay
--include-recent``) only while the holder can prove, by its own monotonic clock since its last
successful renewal, that the lease is valid for longer than that operation may take.

Safety rests on two assumptions (docs/reliability.md): clock *rates* differ by at most
``DRIFT_RATIO`` between hosts (no wall-clock agreement is needed), and the store applies a
request within ``op_timeout_s`` of its being sent or never (an operation is cut off after it).
A holder counts its lease from the moment it *sent* the renewal that succeeded; a contender
counts from the moment it *read* the lease it wants to take over, and takes it only if that exact
version stays unchanged for the holder's TTL plus the drift allowance, so the holder has stopped
writing before the contender starts. One shortcut: a holder on the same machine and in the same
process namespace (same boot id, same PID namespace) whose process no longer exists is taken over
at once (a restart after kill -9 on one host). It never reads or writes checkpoints or data.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson
import structlog

from producer.clock import Clock
from producer.errors import (
    CheckpointConflictError,
    LeaseHeldError,
    LeaseLostError,
    PreconditionFailedError,
    StoreError,
)
from producer.lake.keys import LEASE_FILE, checkpoint_key
from producer.lake.objects import ObjectStore, Precondition, StoredObject
from producer.lifecycle import wait

__all__ = [
    "DRIFT_RATIO",
    "DomainLease",
    "Fence",
    "LeaseHeldError",
    "LeaseLostError",
    "lease_key",
    "new_owner",
]

_log = structlog.get_logger("producer.lease")
_T = TypeVar("_T")
_V = TypeVar("_V")

FORMAT_VERSION = 1
DRIFT_RATIO = 0.01
"""How much faster one host's monotonic clock may run than another's (1 %; NTP keeps real
clocks within a few parts per million). At least ``_DRIFT_FLOOR_S`` is allowed in any case."""
_DRIFT_FLOOR_S = 1.0
_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


class Fence(Protocol):
    """What a writer runs its destructive store operations through."""

    async def guarded(self, what: str, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``operation`` only while the lease is provably held for its whole duration."""
        ...


def lease_key(prefix: str) -> str:
    """``{prefix}/_state/lease.json``, beside the checkpoint."""
    return checkpoint_key(prefix).rpartition("/")[0] + "/" + LEASE_FILE


def new_owner(role: str) -> str:
    """A unique owner id: host, process and ``role`` (``producer``, ``replay``), plus randomness."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}:{secrets.token_hex(4)}"


def drift_allowance(ttl_s: float) -> float:
    """Seconds a lease of ``ttl_s`` is shortened (holder) or lengthened (contender) by."""
    return max(_DRIFT_FLOOR_S, ttl_s * DRIFT_RATIO)


def machine_identity() -> str | None:
    """This kernel's boot id and PID namespace: equal for two processes whose PIDs compare."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}"


def _process_gone(pid: int) -> bool:
    """True only when no process ``pid`` exists here (a zombie or another user's still counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


@dataclass(frozen=True)
class _Holder:
    """The stored lease, as read."""

    owner: str
    ttl_s: float
    renewed_at: str
    expires_at: str
    machine: str | None = None
    pid: int | None = None

    def gone(self) -> bool:
        """The holder provably died: same machine and PID namespace, and its process is gone."""
        here = machine_identity()
        return (
            here is not None
            and self.machine == here
            and self.pid is not None
            and self.pid != os.getpid()
            and _process_gone(self.pid)
        )


class DomainLease:
    """One writer's claim on one domain's lake objects.

    ``acquire`` takes the lease (waiting out a silent holder's TTL, failing if a live one renews
    it); ``guarded`` runs a put/delete under it, renewing first when less than half the TTL is
    left; ``keep_renewed`` renews it every quarter TTL while the writer idles; ``release`` deletes
    it so the next writer takes over at once. ``op_timeout_s`` (a quarter of the TTL) bounds each
    guarded operation and each renewal. Not shared between tasks except ``keep_renewed``.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        prefix: str,
        domain: str,
        owner: str,
        ttl_s: float,
        clock: Clock,
    ) -> None:
        if ttl_s <= 4 * _DRIFT_FLOOR_S:
            raise ValueError(f"a lease of {ttl_s} s is too short (more than 4 s)")
        self.store = store
        self.domain = domain
        self.owner = owner
        self.ttl_s = ttl_s
        self.op_timeout_s = ttl_s / 4
        self.key = lease_key(prefix)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._etag: str | None = None
        self._valid_until = 0.0  # monotonic: the last renewal's send time + TTL - drift
        self._generation = 0
        self._lost: str | None = None

    @property
    def held(self) -> bool:
        """True while the lease was acquired and not lost or released."""
        return self._etag is not None and self._lost is None

    async def acquire(self, stopping: asyncio.Event | None = None) -> bool:
        """Take the lease; False if ``stopping`` was set while waiting for it.

        Free (absent) or ours: taken at once. Held by another: its version is watched; if it
        stays unchanged for the holder's TTL plus the drift allowance (a crashed holder) it is
        taken over, if it changes (the holder renews) ``LeaseHeldError`` is raised.
        """
        watched: tuple[str, float] | None = None  # ETag seen, monotonic time it was first read
        while stopping is None or not stopping.is_set():
            found = await self._bounded("read", self.store.get(self.key))
            holder = None if found is None else self._parse(found)
            if found is None or holder is None or holder.owner == self.owner:
                if await self._take(None if found is None else found.etag):
                    if holder is not None and holder.owner != self.owner:
                        _log.info("lease_acquired", previous_owner=holder.owner, owner=self.owner)
                    else:
                        _log.info("lease_acquired", owner=self.owner)
                    return True
                watched = None
                continue
            assert found is not None
            now = self._clock.monotonic()
            if watched is not None and watched[0] != found.etag:
                raise LeaseHeldError(
                    f"{self.store.description}/{self.key}: {self.domain} is leased by "
                    f"{holder.owner} (renewed {holder.renewed_at}, expires {holder.expires_at}): "
                    "owned elsewhere"
                )
            gone = holder.gone()
            first_look = watched is None
            if watched is None:
                watched = (found.etag, now)
            if first_look and not gone:
                _log.info(
                    "lease_waiting",
                    holder=holder.owner,
                    expires_at=holder.expires_at,
                    wait_s=holder.ttl_s + drift_allowance(holder.ttl_s),
                )
            silent_for = now - watched[1]
            limit = holder.ttl_s + drift_allowance(holder.ttl_s)
            if silent_for >= limit or gone:
                if await self._take(found.etag):
                    _log.warning(
                        "lease_taken_over",
                        previous_owner=holder.owner,
                        silent_s=round(silent_for, 3),
                        holder_process_gone=silent_for < limit,
                        owner=self.owner,
                    )
                    return True
                watched = None
                continue
            await wait(self._clock, stopping, min(limit - silent_for, limit / 8))
        return False

    async def guarded(self, what: str, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``operation`` (a put or delete) if the lease is held for at least its time bound.

        Raises ``LeaseLostError`` (nothing was done) when it is not, and ``StoreError`` when the
        operation outlives ``op_timeout_s`` (then it may or may not have been applied).
        """
        await self.ensure()
        try:
            async with asyncio.timeout(self.op_timeout_s):
                return await operation()
        except TimeoutError:
            raise StoreError(
                f"{self.store.description}: {what} took over {self.op_timeout_s:g} s "
                "(a quarter of the writer lease)"
            ) from None

    async def ensure(self) -> None:
        """Renew when half the TTL is gone; ``LeaseLostError`` unless held for ``op_timeout_s``."""
        async with self._lock:
            await self._prove()

    async def _prove(self) -> None:
        """``ensure`` with the lock held."""
        self._check_held()
        if self._remaining() < self.ttl_s / 2:
            await self._renew()
        if self._remaining() < self.op_timeout_s:
            raise LeaseLostError(
                f"{self.domain}: the writer lease cannot be proven for another "
                f"{self.op_timeout_s:g} s (renewals too slow); not writing"
            )

    async def keep_renewed(self) -> None:
        """Renew every quarter TTL until cancelled; raises ``LeaseLostError`` once it is lost.

        Before ``acquire`` (and after ``release``) it only waits.

        A renewal the store refuses transiently is retried at the next tick; the lease runs out
        meanwhile, and ``guarded`` then stops writing on its own.
        """
        while True:
            await self._clock.sleep(self.ttl_s / 4)
            async with self._lock:
                if self._etag is None and self._lost is None:
                    continue  # not taken yet (or released): nothing to renew
                self._check_held()
                try:
                    await self._renew()
                except StoreError as exc:
                    _log.warning("lease_renewal_failed", error=str(exc)[:200])

    async def release(self) -> None:
        """Give the lease up so the next writer takes over at once: delete it, while it is
        provably still ours for the delete's whole time bound (so the delete needs no condition).

        Best effort: if that fails the lease simply expires after its TTL.
        """
        async with self._lock:
            if not self.held:
                return
            try:
                await self._prove()
                await self._bounded("release", self.store.delete(self.key))
            except (StoreError, CheckpointConflictError) as exc:
                _log.warning("lease_release_failed", error=str(exc)[:200])
            else:
                _log.info("lease_released", owner=self.owner)
            finally:
                self._etag = None
                self._valid_until = 0.0

    def _remaining(self) -> float:
        return self._valid_until - self._clock.monotonic()

    def _check_held(self) -> None:
        if self._lost is not None:
            raise LeaseLostError(self._lost)
        if self._etag is None:
            raise LeaseLostError(f"{self.domain}: the writer lease is not held; not writing")

    async def _renew(self) -> None:
        assert self._etag is not None
        if not await self._take(self._etag):
            found = await self._bounded("read", self.store.get(self.key))
            holder = None if found is None else self._parse(found)
            taker = "nobody" if holder is None else holder.owner
            self._lost = (
                f"{self.store.description}/{self.key}: the {self.domain} writer lease was taken "
                f"over by {taker}: owned elsewhere"
            )
            self._etag = None
            _log.error("lease_lost", taken_by=taker, owner=self.owner)
            raise LeaseLostError(self._lost)

    async def _take(self, etag: str | None) -> bool:
        """Write our lease over the version ``etag`` (None: create it); False if another won."""
        sent = self._clock.monotonic()
        body = self._body()
        try:
            new_etag = await self._bounded(
                "write",
                self.store.put(self.key, body, only_if=Precondition(etag)),
            )
        except PreconditionFailedError:
            # A put whose answer was lost and retried fails its own condition: the same bytes
            # (our owner and generation) mean the first attempt was applied.
            current = await self._bounded("read", self.store.get(self.key))
            if current is None or current.data != body:
                return False
            new_etag = current.etag
        self._etag = new_etag
        self._valid_until = sent + self.ttl_s - drift_allowance(self.ttl_s)
        return True

    def _body(self) -> bytes:
        self._generation += 1
        now = self._clock.now()
        document = {
            "format_version": FORMAT_VERSION,
            "domain": self.domain,
            "owner": self.owner,
            "ttl_seconds": self.ttl_s,
            "generation": self._generation,
            "machine": machine_identity(),
            "pid": os.getpid(),
            "renewed_at": now,
            "expires_at": now + timedelta(seconds=self.ttl_s),
        }
        return orjson.dumps(document, option=_JSON_OPTIONS | orjson.OPT_UTC_Z)

    def _parse(self, found: StoredObject) -> _Holder | None:
        """The holder; None for an unreadable lease (it is then taken like a free one: the
        contender's CAS on its ETag still fences any writer that wrote it)."""
        try:
            document: Any = orjson.loads(found.data)
            if document.get("format_version", 0) > FORMAT_VERSION:
                raise StoreError(
                    f"{self.store.description}/{self.key} has a newer lease format "
                    f"({document['format_version']}): upgrade this producer"
                )
            return _Holder(
                owner=str(document["owner"]),
                ttl_s=float(document["ttl_seconds"]),
                renewed_at=str(document["renewed_at"]),
                expires_at=str(document["expires_at"]),
                machine=_typed_or_none(document.get("machine"), str),
                pid=_typed_or_none(document.get("pid"), int),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            _log.warning("lease_unreadable", key=self.key)
            return None

    async def _bounded(self, what: str, call: Awaitable[_T]) -> _T:
        try:
            async with asyncio.timeout(self.op_timeout_s):
                return await call
        except TimeoutError:
            raise StoreError(
                f"{self.store.description}/{self.key}: lease {what} took over "
                f"{self.op_timeout_s:g} s"
            ) from None


def _typed_or_none(value: Any, kind: type[_V]) -> _V | None:
    return value if isinstance(value, kind) and not isinstance(value, bool) else None
