"""A small parent for one measured process: runs it, waits for it, prints its own usage as JSON.

``python -I -S tests/benchmarks/reaper.py COMMAND...`` starts COMMAND (its stdout goes to the
reaper's stderr), prints the child's pid on a line, samples the child's ``VmHWM`` from
``/proc/<pid>/status`` every 0.1 s, reaps it with ``os.wait4`` and prints one JSON line:
``exit_code``, ``cpu_s`` (user + system, threads included), ``max_rss_kb`` (``ru_maxrss``),
``sampled_hwm_kb`` (the last ``VmHWM`` read, 0 if none) and ``minor_faults``.

Why a process of its own: on Linux, ``execve`` stores the high-water RSS of the memory image it
replaces in the process's ``maxrss`` (``exec_mmap`` → ``setmax_mm_hiwater_rss``), and
``ru_maxrss`` reports at least that. A child made with ``vfork``/``posix_spawn`` (what
``subprocess`` uses) replaces its parent's very image; one made with ``fork`` replaces a copy
whose high-water mark starts at the parent's RSS. Either way a child of a large process reports
that process's size: a 600 MB parent measured 600 MB for ``python -c pass``. This script imports
only the standard library, started with ``-I -S`` (no site packages), and is ~10 MB when it
spawns, so ``max_rss_kb`` is the child's own peak unless that is smaller than ~10 MB.
``VmHWM`` belongs to the image the child ``exec``-ed, so it cannot inherit anything; sampled, it
may miss a peak in the last 0.1 s, which ``ru_maxrss`` does not. The two are reported side by
side. Standard library only: this file must not import the project or the harness.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

_SAMPLE_S = 0.1


def _hwm_kb(pid: int) -> int | None:
    """``VmHWM`` of ``pid`` in kB, or None once it has exited (a zombie has no memory image)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _sample(pid: int, done: threading.Event, peak: list[int]) -> None:
    while not done.is_set():
        hwm = _hwm_kb(pid)
        if hwm is not None:
            peak[0] = max(peak[0], hwm)
        done.wait(_SAMPLE_S)


def main(command: list[str]) -> int:
    """Run ``command`` to its end; print its pid, then its usage as one JSON line."""
    if not command:
        raise SystemExit("usage: reaper.py COMMAND [ARG...]")
    child = subprocess.Popen(command, stdout=sys.stderr)
    print(child.pid, flush=True)
    done, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_sample, args=(child.pid, done, peak), daemon=True)
    sampler.start()
    # Wait for the end without reaping: the pid stays the child's until the sampler has stopped.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    done.set()
    sampler.join()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait
    result = {
        "exit_code": child.returncode,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_kb": usage.ru_maxrss,
        "sampled_hwm_kb": peak[0],
        "minor_faults": usage.ru_minflt,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
