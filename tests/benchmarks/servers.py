"""Benchmark servers, each in a process of its own, so their CPU never counts as the producer's.

``python -m tests.benchmarks.servers simulator '<json>'`` serves the project's simulator (the
JSON holds ``SimulatorConfig`` fields, plus ``frozen_now`` as ISO-8601 to stop its clock);
``python -m tests.benchmarks.servers moto`` serves moto's S3. Each prints ``READY <url>`` once
listening and serves until SIGTERM; the simulator then prints ``SERVED <json>``, its request
counts by kind. ``Server.start_*`` spawn them for the harness; a ``Server`` is a context manager
that terminates its process on exit and keeps those counts in ``served``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

__all__ = ["Server"]

_READY = "READY "
_SERVED = "SERVED "
_JOBS = "/api/v2/analytics/conversations/details/jobs"


@dataclass
class Server:
    """A server process and its base URL; ``close()`` (or leaving ``with``) stops it."""

    url: str
    process: subprocess.Popen[str]
    served: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start_simulator(cls, config: dict[str, Any]) -> Server:
        """Serve the simulator with ``config`` (SimulatorConfig fields, ``frozen_now``)."""
        return cls._spawn(["simulator", json.dumps(config)])

    @classmethod
    def start_moto(cls) -> Server:
        """Serve moto's S3 on 127.0.0.1 and a free port."""
        return cls._spawn(["moto"])

    @classmethod
    def _spawn(cls, args: list[str]) -> Server:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.servers", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # request logs; a failed start shows in the READY line
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith(_READY):
            process.kill()
            process.wait()
            raise RuntimeError(f"server {args[0]} did not start: {line!r}")
        return cls(line[len(_READY) :].strip(), process)

    def close(self) -> None:
        """Terminate the process, keep what it reported (``served``) and reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            for line in self.process.stdout.read().splitlines():
                if line.startswith(_SERVED):
                    self.served = json.loads(line[len(_SERVED) :])
            self.process.stdout.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _serve_simulator(raw: dict[str, Any]) -> None:
    from producer.platforms.genesys.simulator import SimulatorConfig, serve

    frozen = raw.pop("frozen_now", None)
    config = SimulatorConfig(**raw)
    if frozen is not None:
        instant = datetime.fromisoformat(frozen)
        config.now = lambda: instant
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    async with serve(config) as running:
        print(_READY + running.base_url, flush=True)
        await stopping.wait()
        served = Counter(_kind(r.method, r.path) for r in running.sim.requests)
        print(_SERVED + json.dumps(served), flush=True)


def _kind(method: str, path: str) -> str:
    """A request's kind: ``availability``, ``submit``, ``poll``, ``results``, ``delete``..."""
    if not path.startswith(_JOBS):
        return "token" if path == "/oauth/token" else "other"
    rest = path[len(_JOBS) :]
    if rest == "/availability":
        return "availability"
    if not rest:
        return "submit"
    if rest.endswith("/results"):
        return "results"
    return "delete" if method == "DELETE" else "poll"


def _serve_moto() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"{_READY}http://{host}:{port}", flush=True)
    signal.sigwait({signal.SIGTERM})
    server.stop()


def main() -> None:
    """Entry point: ``simulator '<json>'`` or ``moto``."""
    if sys.argv[1:2] == ["simulator"]:
        asyncio.run(_serve_simulator(json.loads(sys.argv[2])))
    elif sys.argv[1:2] == ["moto"]:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        _serve_moto()
    else:
        raise SystemExit("usage: python -m tests.benchmarks.servers simulator '<json>' | moto")


if __name__ == "__main__":
    main()
