"""One producer process, measured from outside: its own CPU, peak memory and JSON log lines.

``run_producer`` starts ``python -m producer run [--once]`` (or another entry point, such as
``tests.benchmarks.untuned``) with the given environment, optionally samples its CPU from
``/proc/<pid>/stat`` over a span, stops a daemon after a while with SIGTERM, and has it reaped
with ``os.wait4``: user + system CPU and ``ru_maxrss`` are that process's alone (threads
included; the simulator's and moto's processes are not its children).

The producer is not the harness's child but the child of ``reaper.py``, a fresh interpreter
without site packages (~10 MB). On Linux ``execve`` stores the high-water RSS of the image it
replaces as the new program's starting ``ru_maxrss``, and a child spawned by ``vfork`` (what
``subprocess`` uses) replaces its parent's own image, one spawned by ``fork`` a copy of it: a
producer spawned straight from the harness reported the harness's size (363 MB, whatever the
window), not its own. The reaper also samples the producer's ``VmHWM`` (the peak of the image
it ``exec``-ed, which cannot inherit anything) as a cross-check: ``sampled_hwm_mb``. Nothing
here knows the scenarios.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["CLIENT", "Measured", "producer_env", "run_chain", "run_producer"]

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_REAPER = Path(__file__).resolve().with_name("reaper.py")
CLIENT = ("telephony-client", "telephony-secret")


@dataclass(frozen=True)
class Measured:
    """What one producer process cost, and what it logged."""

    exit_code: int
    cpu_s: float
    wall_s: float
    max_rss_mb: float  # ru_maxrss from wait4 (through the small reaper)
    logs: list[dict[str, Any]]
    sampled_utilisation: float | None = None  # CPU seconds / wall second over the sampled span
    sampled_hwm_mb: float = 0.0  # the producer's VmHWM, last read (every 0.1 s) before its exit
    minor_faults: int = 0  # pages the kernel had to map in for it (fresh memory touched)

    def events(self, name: str) -> list[dict[str, Any]]:
        """The log lines whose ``event`` is ``name``, in order."""
        return [line for line in self.logs if line.get("event") == name]

    def tail(self, lines: int = 15) -> str:
        """The last log lines, for an error message."""
        return "\n".join(json.dumps(line) for line in self.logs[-lines:])


def producer_env(
    *,
    simulator_url: str,
    lake_url: str,
    start_at: datetime,
    window_seconds: int,
    s3_endpoint: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a Telephony-only producer against the benchmark's servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESH_", "AWS_"))}
    env.update(
        {
            "MESH_DOMAINS": "telephony",
            "MESH_GENESYS_API_URL": simulator_url,
            "MESH_GENESYS_LOGIN_URL": simulator_url,
            "MESH_LAKE_URL": lake_url,
            "MESH_START_AT": start_at.isoformat(),
            "MESH_WINDOW_SECONDS": str(window_seconds),
            "MESH_HTTP_PORT": "0",
            "MESH_HTTP_HOST": "127.0.0.1",
            "MESH_LOG_FORMAT": "json",
            "MESH_LOG_LEVEL": "INFO",
            "MESH_TELEPHONY__CLIENT_ID": CLIENT[0],
            "MESH_TELEPHONY__CLIENT_SECRET": CLIENT[1],
            "MESH_TELEPHONY__RESWEEP_HOURS": "0",
        }
    )
    if s3_endpoint is not None:
        env.update(
            {
                "AWS_ENDPOINT_URL_S3": s3_endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
            }
        )
    env.update(extra or {})
    return env


def run_producer(
    env: dict[str, str],
    *,
    once: bool = True,
    stop_after_s: float | None = None,
    sample: tuple[float, float] | None = None,
    module: str = "producer",
    source: Path | None = None,
) -> Measured:
    """Run the producer to its end (``once``) or for ``stop_after_s`` seconds, then SIGTERM.

    ``sample`` = (after_s, span_s): CPU utilisation measured over ``span_s`` seconds starting
    ``after_s`` seconds after start (start-up excluded). ``module`` is what ``python -m`` runs
    (``run [--once]`` follows). ``source`` runs the producer of another checkout (a baseline).
    """
    command = [sys.executable, "-m", module, "run", *(["--once"] if once else [])]
    if source is not None:  # `-m` puts the working folder first on the path
        env = {**env, "PYTHONPATH": str(source)}
    reaper = [sys.executable, "-I", "-S", str(_REAPER), *command]
    with tempfile.TemporaryFile() as log:
        started = time.monotonic()
        process = subprocess.Popen(
            reaper, env=env, stdout=subprocess.PIPE, stderr=log, cwd=source, text=True
        )
        assert process.stdout is not None
        pid = int(process.stdout.readline())
        utilisation = None
        if sample is not None:
            utilisation = _sample(pid, started, *sample)
        if stop_after_s is not None:
            _sleep_until(started + stop_after_s, pid)
            if not _exited(pid):
                os.kill(pid, signal.SIGTERM)
        usage = json.loads(process.stdout.readline())
        wall_s = time.monotonic() - started
        process.stdout.close()
        process.wait()
        log.seek(0)
        logs = _json_lines(log.read())
    return Measured(
        exit_code=usage["exit_code"],
        cpu_s=usage["cpu_s"],
        wall_s=wall_s,
        max_rss_mb=usage["max_rss_kb"] / 1024,
        logs=logs,
        sampled_utilisation=utilisation,
        sampled_hwm_mb=usage["sampled_hwm_kb"] / 1024,
        minor_faults=usage["minor_faults"],
    )


def run_chain(chain: str, folder: Path, compression: str, collector: str) -> dict[str, Any]:
    """Run a reference chain (``floor``, ``naive``, ``naive-once``) in a fresh process.

    ``collector`` is ``default`` or ``tuned``. Returns its JSON line: ``chain``, ``gc``,
    ``cpu_s`` (the chain's own loop, process CPU time) and the counts of ``ChainResult``.
    """
    module = "tests.benchmarks.chains"
    command = [sys.executable, "-m", module, chain, str(folder), compression, collector]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _sample(pid: int, started: float, after_s: float, span_s: float) -> float | None:
    """CPU seconds per wall second of ``pid`` over ``[after_s, after_s + span_s]``."""
    time.sleep(max(0.0, started + after_s - time.monotonic()))
    first = _cpu_ticks(pid)
    begin = time.monotonic()
    time.sleep(span_s)
    last = _cpu_ticks(pid)
    if first is None or last is None:
        return None
    return (last - first) / _TICKS_PER_S / (time.monotonic() - begin)


def _cpu_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the line)


def _sleep_until(deadline: float, pid: int) -> None:
    while not _exited(pid) and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


def _exited(pid: int) -> bool:
    """Whether ``pid`` has ended (gone, or a zombie waiting for its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _json_lines(raw: bytes) -> list[dict[str, Any]]:
    lines = []
    for text in raw.decode(errors="replace").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            line = {"event": "non_json_output", "text": text}
        if isinstance(line, dict):
            lines.append(line)
    return lines
