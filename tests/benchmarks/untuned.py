"""``mesh-producer run`` with CPython's default garbage-collector thresholds, for comparison.

``mesh-producer run`` freezes its start-up heap and raises the collector's thresholds
(``producer/cli.py``): a results page is ~150,000 containers that live until it is routed, and
with the defaults that meant a full collection of the heap about once per page. The benchmark
runs this entry point next to the real one, so what the tuning buys is a figure of the same run.
It does what ``cli._run`` does (allocator, settings, logging, ``daemon.run``) except that one
call.
"""

from __future__ import annotations

import asyncio
import sys

__all__ = ["main"]


def main() -> int:
    """``run [--once]`` with the collector as CPython starts it; returns the exit code."""
    from producer import daemon
    from producer.allocator import tune_allocator  # the producer's own call, not a copy
    from producer.logs import configure_logging
    from producer.settings import load_settings

    if sys.argv[1:2] != ["run"]:
        raise SystemExit("usage: python -m tests.benchmarks.untuned run [--once]")
    tune_allocator()
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    result = asyncio.run(daemon.run(settings, once="--once" in sys.argv[2:]))
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
