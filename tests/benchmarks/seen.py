"""Micro-benchmark of the router's repeat check: CPU per record id and memory, old and new.

``python -m tests.benchmarks.seen [--ids 1000000] [--rounds 3]`` prints, per case, the CPU
nanoseconds per id (best of the rounds) and the Python heap the structure holds at its peak
(``tracemalloc``, in a pass of its own). Cases: the check before ``SeenIds`` (the ids of the current
``conversationStart`` only, which missed out-of-order repeats; and a plain ``set`` per window, as
Quality and WFM had it), then ``SeenIds`` on a 10,000-record window (in memory) and on a window
of ``--ids`` records (spilled to a temporary file). Ids are UUID strings made before timing, one
in 200 a repeat of an earlier one, timestamps ascending in steps of 40 ids.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from producer.seen import SeenIds

_Check = Callable[[str, datetime], bool]


def _stream(n: int) -> list[tuple[str, datetime]]:
    rng = random.Random(7)
    base = datetime(2026, 1, 5, tzinfo=UTC)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]
    for i in range(200, n, 200):
        ids[i] = ids[rng.randrange(i)]
    return [(record_id, base + timedelta(seconds=i // 40)) for i, record_id in enumerate(ids)]


def _old_ordered() -> _Check:
    """The check before this change for ordered sources (Telephony), as it was."""
    seen: set[str] = set()
    state: dict[str, object] = {"at": None, "ordered": True}

    def repeated(record_id: str, at: datetime) -> bool:
        if state["ordered"]:
            last = state["at"]
            if isinstance(last, datetime) and at < last:
                state["ordered"] = False
            elif at != last:
                seen.clear()
                state["at"] = at
        if record_id in seen:
            return True
        seen.add(record_id)
        return False

    return repeated


def _old_set() -> _Check:
    seen: set[str] = set()

    def repeated(record_id: str, at: datetime) -> bool:
        if record_id in seen:
            return True
        seen.add(record_id)
        return False

    return repeated


def _new() -> _Check:
    seen = SeenIds()
    return lambda record_id, at: not seen.add(record_id)


def _peak(make: Callable[[], _Check], stream: list[tuple[str, datetime]]) -> int:
    """The peak traced heap (bytes) of one pass (timed separately: tracing slows allocation)."""
    tracemalloc.start()
    check = make()
    for record_id, at in stream:
        check(record_id, at)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del check
    return peak


def _time(make: Callable[[], _Check], stream: list[tuple[str, datetime]], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        check = make()
        started = time.process_time()
        for record_id, at in stream:
            check(record_id, at)
        best = min(best, time.process_time() - started)
        del check
    return best / len(stream) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    small, large = _stream(10_000), _stream(args.ids)
    cases: list[tuple[str, Callable[[], _Check], list[tuple[str, datetime]]]] = [
        ("before: current-timestamp ids (10k)", _old_ordered, small),
        ("before: a set per window (10k)", _old_set, small),
        ("SeenIds, in memory (10k)", _new, small),
        (f"before: a set per window ({len(large):,})", _old_set, large),
        (f"SeenIds, spilled ({len(large):,})", _new, large),
    ]
    print(f"{'case':<42} {'CPU ns/id':>10} {'peak heap':>10}")
    for name, make, stream in cases:
        ns = _time(make, stream, args.rounds if len(stream) <= 100_000 else 1)
        peak = _peak(make, stream)
        print(f"{name:<42} {ns:>10.0f} {peak / 2**20:>8.1f} MB")


if __name__ == "__main__":
    main()
