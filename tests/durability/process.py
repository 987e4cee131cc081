"""Durability harness, processes: ``python -m producer run`` as a real process, on cue.

``Producer`` starts the CLI with an environment from ``producer_env`` and collects its JSON log
lines, so a test can wait for an event, then SIGKILL or SIGTERM the process; leaving its ``async
with`` always reaps it. ``poll_until`` waits on state that has no event (another process's files,
the simulator's switches). Nothing here inspects the lake.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from tests.fixtures.process import process_env
from tests.fixtures.simulator import TELEPHONY_CLIENT

__all__ = ["Producer", "ProducerExitedError", "poll_until", "producer_env"]


def producer_env(
    *,
    api_url: str,
    lake_url: str,
    start: datetime,
    s3_endpoint: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    """The environment of one producer process: small windows of work, fast polls, loopback.

    ``overrides`` are ``MESH_*``/``AWS_*`` names and values that replace the defaults here.
    """
    defaults = {
        "MESH_DOMAINS": "telephony",
        "MESH_TELEPHONY__CLIENT_ID": TELEPHONY_CLIENT[0],
        "MESH_TELEPHONY__CLIENT_SECRET": TELEPHONY_CLIENT[1],
        "MESH_TELEPHONY__JOB_POLL_SECONDS": "0.02",
        "MESH_TELEPHONY__PAGE_SIZE": "25",
        "MESH_TELEPHONY__PART_MAX_RECORDS": "20",
        "MESH_TELEPHONY__RATE_LIMIT_PER_MINUTE": "60000",
        "MESH_REQUEST_RETRY_SECONDS": "30",
    }
    return process_env(
        api_url=api_url,
        lake_url=lake_url,
        start=start,
        s3_endpoint=s3_endpoint,
        **(defaults | overrides),
    )


async def poll_until(
    predicate: Callable[[], bool], *, timeout_s: float = 60, interval_s: float = 0.02
) -> None:
    """Return once ``predicate()`` holds; ``TimeoutError`` after ``timeout_s`` (a safety net)."""
    async with asyncio.timeout(timeout_s):
        # The state polled lives in another process or in the simulator: there is no event.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(interval_s)


class ProducerExitedError(AssertionError):
    """The process ended before the log event a test waited for."""


class Producer:
    """One ``python -m producer run`` subprocess; stdout and stderr are read line by line.

    Use ``async with Producer.start(...)``: leaving the block kills a process still running and
    reaps it, so no process or reader task outlives a test, whatever happens in it.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read(), name="producer-output")

    @classmethod
    async def start(cls, env: Mapping[str, str], *, once: bool = True) -> Producer:
        """Start the process (``run --once`` unless ``once`` is False)."""
        args = ["-m", "producer", "run", *(["--once"] if once else [])]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        return cls(process)

    async def __aenter__(self) -> Producer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def output(self) -> str:
        """Everything the process wrote so far."""
        return "\n".join(self.lines)

    def named(self, event: str) -> list[dict[str, Any]]:
        """The log lines whose ``event`` is ``event``, in order."""
        return [line for line in self.events if line.get("event") == event]

    async def wait_for_event(self, event: str, *, count: int = 1, timeout_s: float = 60) -> None:
        """Return once ``count`` lines with ``event`` were logged; ``ProducerExitedError`` if the
        output ends first (``TimeoutError`` after ``timeout_s``, a generous safety net)."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(
                lambda: len(self.named(event)) >= count or self._reader.done()
            )
        if len(self.named(event)) < count:
            code = await self.wait(timeout_s=30)
            raise ProducerExitedError(
                f"process ended (code {code}) before {count} x {event}:\n" + self.output[-4000:]
            )

    async def exited_within(self, seconds: float) -> int | None:
        """The exit code if the process ends within ``seconds``, else None (still running)."""
        try:
            async with asyncio.timeout(seconds):
                return await self.process.wait()
        except TimeoutError:
            return None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or cleaned up."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM: the graceful shutdown path."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)

    async def wait(self, *, timeout_s: float = 120) -> int:
        """Wait for the exit and the end of its output; returns the exit code."""
        async with asyncio.timeout(timeout_s):
            code = await self.process.wait()
            await self._reader
        return code

    async def close(self) -> None:
        """Kill the process if it still runs, reap it and stop reading."""
        self.kill()
        try:
            await self.wait(timeout_s=30)
        finally:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        async for raw in stream:
            text = raw.decode(errors="replace").rstrip("\n")
            async with self._changed:
                self.lines.append(text)
                if text.startswith("{"):
                    try:
                        parsed = orjson.loads(text)
                    except orjson.JSONDecodeError:
                        parsed = None
                    if isinstance(parsed, dict):
                        self.events.append(parsed)
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()
