"""The benchmark's measurements and the table it prints: figures against the requirements' targets.

``Report`` collects what each section measured (producer runs, chain runs, idle start-ups) and
renders one table: medians with their spread (min-max over the rounds), per-record costs in µs
of CPU, the ratios the targets are stated in, and a verdict per target. Pure: no processes here.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from producer.windows import parse_instant
from tests.benchmarks.lakes import Totals
from tests.benchmarks.runs import Measured

__all__ = ["Report", "Row", "spread"]

Row = tuple[str, ...]  # measurement, figure[, target, verdict]


def spread(values: list[float], digits: int = 1) -> str:
    """``median [min-max]`` (just the value when there is one)."""
    if not values:
        return "n/a"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:,.{digits}f}"
    return f"{median:,.{digits}f} [{min(values):,.{digits}f}-{max(values):,.{digits}f}]"


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


@dataclass
class _Backlog:
    cpu_s: float
    wall_s: float
    fetched: int
    parsed: int
    max_rss_mb: float


@dataclass(frozen=True)
class _Memory:
    max_rss_mb: float  # ru_maxrss (wait4, through the reaper)
    sampled_hwm_mb: float  # VmHWM, sampled every 0.1 s
    fetched: int


@dataclass
class Report:
    """Everything measured in one invocation; ``table()`` renders it."""

    load_before: tuple[float, float, float]
    cores: int
    load_after: tuple[float, float, float] | None = None
    idle: dict[str, list[Measured]] = field(default_factory=lambda: defaultdict(list))
    backlog: dict[tuple[str, str], list[_Backlog]] = field(
        default_factory=lambda: defaultdict(list)
    )
    chains: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    memory: dict[str, dict[int, _Memory]] = field(default_factory=lambda: defaultdict(dict))
    saturated: dict[str, dict[str, float]] = field(default_factory=dict)
    catchup: dict[str, float] = field(default_factory=dict)
    freshness: list[float] = field(default_factory=list)
    steady_requests: dict[str, float] = field(default_factory=dict)
    harness_rss_mb: float | None = None  # the harness's own peak: what a direct child inherits

    def add_idle(self, kind: str, run: Measured) -> None:
        """A ``run --once`` with no window due: start-up and shut-down cost."""
        self.idle[kind].append(run)

    def add_backlog(
        self, kind: str, variant: str, run: Measured, totals: Totals, parsed: int
    ) -> None:
        """A ``run --once`` over the backlog into ``kind`` (``s3``/``file``) by ``variant``."""
        self.backlog[(kind, variant)].append(
            _Backlog(run.cpu_s, run.wall_s, totals.fetched, parsed, run.max_rss_mb)
        )

    def add_chain(self, result: dict[str, Any]) -> None:
        """A chain's JSON line (``chains.main``), kept under ``chain/gc``."""
        self.chains[f"{result['chain']}/{result['gc']}"].append(result)

    def add_memory(self, label: str, records: int, run: Measured, totals: Totals | None) -> None:
        """A one-window backlog of about ``records`` conversations (``label``: lake, variant)."""
        fetched = totals.fetched if totals else 0
        self.memory[label][records] = _Memory(run.max_rss_mb, run.sampled_hwm_mb, fetched)

    def add_saturated(self, variant: str, per_hour: float, run: Measured) -> None:
        """The daemon at the API limit with every page full, its CPU sampled after start-up."""
        landed = run.events("window_landed")
        self.saturated[variant] = {
            "per_hour": per_hour,
            "utilisation": run.sampled_utilisation or float("nan"),
            "windows": len(landed),
            "records": sum(line["fetched"] + line["out_of_window"] for line in landed),
            "wall_s": run.wall_s,
        }

    def add_catchup(
        self, per_hour: float, hours: float, run: Measured, totals: Totals | None
    ) -> None:
        """``run --once`` over ``hours`` of backlog at the API limit, production settings."""
        self.catchup = {
            "per_hour": per_hour,
            "hours": hours,
            "wall_s": run.wall_s,
            "cpu_s": run.cpu_s,
            "fetched": float(totals.fetched if totals else 0),
            "windows": len(run.events("window_landed")),
        }

    def add_freshness(
        self, run: Measured, lag_s: float, *, steady_after: datetime, served: dict[str, int]
    ) -> None:
        """Seconds from each window's availability (end + lag) to its ``window_landed`` line;
        and the requests the simulator served, per minute of the run, by kind."""
        minutes = run.wall_s / 60
        self.steady_requests = {kind: count / minutes for kind, count in served.items()}
        for line in run.events("window_landed"):
            end = parse_instant(str(line["window"]).rsplit("-", 1)[1])
            available = end + timedelta(seconds=lag_s)
            if available < steady_after:
                continue  # the initial backlog, not the steady state
            landed = datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00"))
            self.freshness.append((landed - available).total_seconds())

    def _chain(self, name: str) -> list[float]:
        return [r["cpu_s"] / r["exported"] * 1e6 for r in self._chain_rows(name)]

    def _chain_rows(self, name: str) -> list[dict[str, Any]]:
        rows = []
        for result in self.chains.get(name, []):
            exported = int(result["landed"]) + int(result["dead_lettered"])
            if exported:
                rows.append({**result, "exported": exported})
        return rows

    def table(self, *, compression: str) -> str:
        """The rendered table: measurement, figure, target, verdict."""
        rows: list[Row] = [("measurement", "figure", "target", "")]
        rows += self._backlog_rows(compression)
        rows += self._memory_rows()
        rows += self._limit_rows()
        cells = [(*row, "", "", "")[:4] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(4)]
        lines = [
            f"machine: {self.cores} cores; load average before {_load(self.load_before)}"
            + (f", after {_load(self.load_after)}" if self.load_after else "")
            + (
                f"; harness peak RSS {self.harness_rss_mb:,.0f} MB"
                if self.harness_rss_mb is not None
                else ""
            )
        ]
        for row in cells:
            padded = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            lines.append("  ".join(padded).rstrip())
        return "\n".join(lines)

    def _backlog_rows(self, compression: str) -> list[Row]:
        if not self.backlog:
            return []
        first = next(iter(self.backlog.values()))[0]
        rows: list[Row] = [
            ("backlog run: records landed+DLQ / parsed", f"{first.fetched:,} / {first.parsed:,}")
        ]
        for (kind, variant), runs in self.backlog.items():
            label = f"producer -> {kind}, {variant}"
            rows += [
                (f"{label}: CPU µs/record, net of start-up", spread(self._net(kind, variant))),
                (f"{label}: CPU µs/record, gross", spread(self._gross(kind, variant))),
                (f"{label}: wall s", spread([r.wall_s for r in runs])),
            ]
        for kind, idle in sorted(self.idle.items()):
            rows.append(
                (f"start-up + shut-down CPU s ({kind})", spread([r.cpu_s for r in idle], 2))
            )
        floor = self._chain("floor/tuned")
        naive, careful = self._chain("naive/default"), self._chain("naive-once/default")
        sample = self._chain_rows("floor/tuned")
        rows += [
            (
                "chains' sample: records landed+DLQ",
                f"{sample[0]['exported']:,}" if sample else "-",
            ),
            (f"floor chain ({compression}), GC as the producer: CPU µs/record", spread(floor)),
            ("floor chain, default GC: CPU µs/record", spread(self._chain("floor/default"))),
            ("naive chain (jsonschema.validate each): CPU µs/record", spread(naive)),
            ("naive chain, validator built once: CPU µs/record", spread(careful)),
        ]
        for kind, variant in self.backlog:
            net = self._net(kind, variant)
            if not net or not floor:
                continue
            who = f"producer -> {kind}, {variant} (net)"
            ratio = _median(net) / _median(floor)
            rows.append((f"{who} / floor", f"{ratio:.2f}x", "<= 1.25x", _verdict(ratio <= 1.25)))
            if naive:
                gain = _median(naive) / _median(net)
                rows.append((f"naive / {who}", f"{gain:.2f}x", ">= 3x", _verdict(gain >= 3)))
            if careful:
                rows.append(
                    (f"naive, validator once / {who}", f"{_median(careful) / _median(net):.2f}x")
                )
        return rows

    def _gross(self, kind: str, variant: str) -> list[float]:
        return [
            r.cpu_s / r.fetched * 1e6 for r in self.backlog.get((kind, variant), []) if r.fetched
        ]

    def _net(self, kind: str, variant: str) -> list[float]:
        idle = _median([run.cpu_s for run in self.idle.get(kind, [])])
        runs = self.backlog.get((kind, variant), [])
        return [(r.cpu_s - idle) / r.fetched * 1e6 for r in runs if r.fetched]

    def _memory_rows(self) -> list[Row]:
        rows: list[Row] = []
        for label, sizes in self.memory.items():
            rows += [
                (
                    f"peak RSS ({label}), a window of {m.fetched:,} landed+DLQ",
                    f"{m.max_rss_mb:,.0f} MB (VmHWM {m.sampled_hwm_mb:,.0f})",
                )
                for _, m in sorted(sizes.items())
            ]
            if len(sizes) < 2:
                continue
            ordered = sorted(sizes)
            small, large = sizes[ordered[0]].max_rss_mb, sizes[ordered[-1]].max_rss_mb
            growth = large / small - 1
            rows += [
                (
                    f"peak RSS ({label}), largest window",
                    f"{large:,.0f} MB",
                    "<= 250 MB",
                    _verdict(large <= 250),
                ),
                (
                    f"peak RSS ({label}), largest vs smallest",
                    f"{growth:+.0%}",
                    "<= +20%",
                    _verdict(growth <= 0.2),
                ),
            ]
        return rows

    def _limit_rows(self) -> list[Row]:
        rows: list[Row] = []
        for variant, s in self.saturated.items():
            share = s["utilisation"]
            rate = s["records"] / s["wall_s"] if s["wall_s"] else 0.0
            rows += [
                (
                    f"API limit, pages full ({s['per_hour']:,.0f}/h), {variant}: CPU of one core",
                    f"{share:.1%}",
                    "<= 25%",
                    _verdict(share <= 0.25),
                ),
                ("  conversations parsed per wall second over that run", f"{rate:,.0f}"),
            ]
        if self.catchup:
            c = self.catchup
            share = c["cpu_s"] / c["wall_s"]
            rows += [
                (
                    f"API limit, catch-up of {c['hours']:g} h at {c['per_hour']:,.0f}/h: wall",
                    f"{c['wall_s'] / 60:.1f} min",
                ),
                (
                    "  its CPU / wall, start-up included",
                    f"{share:.1%}",
                    "<= 25%",
                    _verdict(share <= 0.25),
                ),
                ("  records landed+DLQ, windows", f"{c['fetched']:,.0f}, {c['windows']:.0f}"),
            ]
        if self.freshness:
            rows.append(
                (
                    f"steady state: data available -> window landed, s ({len(self.freshness)})",
                    spread(self.freshness),
                )
            )
        if self.steady_requests:
            served = ", ".join(f"{k} {v:.1f}" for k, v in sorted(self.steady_requests.items()))
            rows.append(("  requests per minute in that run", served))
        return rows

    def as_json(self) -> dict[str, Any]:
        """The raw measurements (for ``--json``)."""
        return {
            "cores": self.cores,
            "load_before": self.load_before,
            "load_after": self.load_after,
            "idle_cpu_s": {k: [r.cpu_s for r in v] for k, v in self.idle.items()},
            "backlog": {f"{k[0]}, {k[1]}": [vars(r) for r in v] for k, v in self.backlog.items()},
            "chains": dict(self.chains),
            "memory": {
                label: {str(k): vars(m) for k, m in sizes.items()}
                for label, sizes in self.memory.items()
            },
            "harness_rss_mb": self.harness_rss_mb,
            "steady_requests_per_minute": self.steady_requests,
            "saturated": self.saturated,
            "catchup": self.catchup,
            "freshness_s": self.freshness,
        }


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)
