"""The benchmark report: ``report.md`` (one table per section, every figure with its floor
and ratio) and ``latency.png`` (measured vs floor, p50 and p99, per latency figure).

The ratio is the one :meth:`Figure.ratio` gives: 1.0 is the floor and larger is always
worse, for latencies (measured / floor) and rates (floor / measured) alike.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.bench.machine import Machine
from tests.bench.stats import PERCENTILES, Figure

Status = Literal["ok", "failed", "not run", "skipped"]
LATENCY_KEYS = ("p50", "p99")  # what the chart compares
LOG_SCALE_SPREAD = 30.0  # largest / smallest bar beyond which the chart's axis is logarithmic


@dataclass
class SectionResult:
    """The outcome of one section: its figures, or why it has none."""

    number: int
    key: str  # the name --skip takes, e.g. "qdrant_find"
    title: str  # e.g. "qdrant_find: MCP vs direct"
    status: Status = "not run"
    figures: list[Figure] = field(default_factory=list)
    reason: str = ""  # why it failed, was skipped or was not run
    seconds: float = 0.0

    @property
    def heading(self) -> str:
        return f"{self.number}. {self.title}"


@dataclass
class RunInfo:
    """What the report says about the run itself."""

    machine: Machine
    backends: list[str]  # one line each: which Qdrant / Ollama (real or stand-in) was used
    quick: bool
    wall_seconds: float
    command: str
    notes: list[str] = field(default_factory=list)  # set-up problems worth knowing


def fmt(value: float) -> str:
    """A number with about three significant digits, without exponent notation."""
    if not math.isfinite(value):  # NaN / inf
        return str(value)
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def target_cell(figure: Figure, key: str) -> str:
    """The bounds of ``key`` and whether the figure met them, e.g. "≤ 45 s, ≤ 5x: **met**";
    empty when it has none."""
    if not figure.has_target(key):
        return ""
    bounds = []
    if key in figure.target:
        sign = "≥" if figure.higher_is_better else "≤"
        bounds.append(f"{sign} {fmt(figure.target[key])} {figure.unit}")
    if figure.target_ratio is not None and figure.has_target_ratio(key):
        bounds.append(f"≤ {fmt(figure.target_ratio)}x")
    verdict = "met" if figure.meets_target(key) else "NOT met"
    return f"{', '.join(bounds)}: **{verdict}**"


def has_targets(figures: Sequence[Figure]) -> bool:
    return any(f.has_target(k) for f in figures for k in f.measured)


def figure_rows(figure: Figure, targets: bool = False) -> list[str]:
    """Markdown table rows of one figure: one per statistic (p50/p95/p99, or value). A figure
    without a floor shows dashes for floor and ratio; ``targets`` adds the Target column."""
    keys = [
        k
        for k in (*PERCENTILES, "value")
        if k in figure.measured and (k in figure.floor or not figure.floor)
    ]
    label = _cell(figure.name)
    if figure.floor:
        label += f"<br>*floor:* {_cell(figure.floor_name)}"
    rows = []
    for i, key in enumerate(keys):
        cells = [
            label if i == 0 else "",
            key,
            f"{fmt(figure.measured[key])} {figure.unit}",
            f"{fmt(figure.floor[key])} {figure.unit}" if figure.floor else "—",
            f"{fmt(figure.ratio(key))}x" if figure.floor else "—",
        ]
        if targets:
            cells.append(_cell(target_cell(figure, key)))
        cells.append(f"{figure.samples} / {figure.floor_samples}" if i == 0 else "")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def section_markdown(section: SectionResult) -> str:
    lines = [f"## {section.heading}", ""]
    if section.status != "ok":
        lines.append(f"**{section.status.upper()}**: {section.reason or 'no reason given'}")
        lines.append("")
    if section.figures:
        targets = has_targets(section.figures)
        if targets:
            lines += [
                "| Figure | | Measured | Floor | Ratio | Target | Samples (measured / floor) |",
                "| --- | --- | ---: | ---: | ---: | --- | ---: |",
            ]
        else:
            lines += [
                "| Figure | | Measured | Floor | Ratio | Samples (measured / floor) |",
                "| --- | --- | ---: | ---: | ---: | ---: |",
            ]
        for figure in section.figures:
            lines += figure_rows(figure, targets)
        lines.append("")
        notes = [n for f in section.figures for n in f.notes]
        lines += [f"- {_cell(n)}" for n in notes]
        if notes:
            lines.append("")
    elif section.status == "ok":
        lines += ["The section ran but produced no figures.", ""]
    return "\n".join(lines)


def render(run: RunInfo, sections: Sequence[SectionResult], chart_name: str) -> str:
    """The whole report as Markdown."""
    mode = "full run"
    if run.quick:
        mode = "quick smoke run (`--quick`): small samples, figures indicative only"
    lines = [
        "# Shield benchmarks",
        "",
        f"Generated by `{run.command}` ({mode}) in {run.wall_seconds:.0f} s of wall time. "
        "Each figure is measured side by side with its **floor** — the same work done without "
        "the layer under test — in the same run on the same machine, so machine noise hits "
        "both. **Ratio** = measured / floor for latencies and durations and floor / measured "
        "for rates: 1.0 means no overhead over the floor, larger is worse. Where a section "
        "sets a **target** (a bound the figure should meet, not a measurement), its table "
        "says whether the figure met it.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {label} | {_cell(value)} |" for label, value in run.machine.rows()),
        "",
        "## Services",
        "",
        "Every service ran as a local process on 127.0.0.1, started by the benchmark "
        "(`tests/integration/stack.py`): Redis (Debian's redis-server), the LightRAG service, "
        "the orchestrator, the workers and the MCP server are the real Shield services.",
        "",
        *(f"- {line}" for line in run.backends),
        "",
    ]
    if run.notes:
        lines += ["Set-up notes:", "", *(f"- {_cell(n)}" for n in run.notes), ""]
    lines += [
        "## Summary",
        "",
        "| Section | Status | Figures | Time |",
        "| --- | --- | ---: | ---: |",
    ]
    for s in sections:
        lines.append(f"| {_cell(s.heading)} | {s.status} | {len(s.figures)} | {s.seconds:.0f} s |")
    lines += ["", f"![measured vs floor latency, p50 and p99]({chart_name})", ""]
    for s in sections:
        lines.append(section_markdown(s))
    return "\n".join(lines).rstrip() + "\n"


def latency_figures(figures: Sequence[Figure]) -> list[Figure]:
    """The figures the chart shows: latencies in ms with p50 and p99 on both sides."""
    return [
        f
        for f in figures
        if f.unit == "ms" and all(k in f.measured and k in f.floor for k in LATENCY_KEYS)
    ]


def chart(figures: Sequence[Figure], path: Path) -> Path:
    """Grouped bars per latency figure: measured and floor, p50 and p99; a log axis when the
    bars span more than :data:`LOG_SCALE_SPREAD`. Written as PNG with the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = latency_figures(figures)
    height = max(3.0, 0.9 * len(shown) + 1.6)
    fig, ax = plt.subplots(figsize=(10, height), dpi=110)
    try:
        if not shown:
            ax.text(0.5, 0.5, "no latency figures in this run", ha="center", va="center")
            ax.set_axis_off()
        else:
            series = [
                ("measured p50", "measured", "p50", "#1f77b4"),
                ("floor p50", "floor", "p50", "#aec7e8"),
                ("measured p99", "measured", "p99", "#d62728"),
                ("floor p99", "floor", "p99", "#ff9896"),
            ]
            bar_height = 0.2
            positions = range(len(shown))
            values = []
            for i, (label, side, key, colour) in enumerate(series):
                ys = [getattr(f, side)[key] for f in shown]
                values += ys
                offsets = [p + (i - 1.5) * bar_height for p in positions]
                ax.barh(offsets, ys, height=bar_height, label=label, color=colour)
            positive = [v for v in values if v > 0]
            if positive and max(positive) / min(positive) > LOG_SCALE_SPREAD:
                ax.set_xscale("log")
                ax.set_xlabel("latency (ms, log scale)")
            else:
                ax.set_xlabel("latency (ms)")
            labels = [
                textwrap.fill(f"{f.section}: {f.name}", 38) + f"\n(ratio p50 {f.ratio('p50'):.1f}x)"
                for f in shown
            ]
            ax.set_yticks(list(positions), labels, fontsize=7)
            ax.invert_yaxis()
            ax.grid(axis="x", alpha=0.3)
            ax.legend(fontsize=7, loc="lower right")
            ax.set_title("Measured vs floor latency (same run, same machine)", fontsize=10)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def write(
    out: Path, run: RunInfo, sections: Sequence[SectionResult], chart_name: str = "latency.png"
) -> tuple[Path, Path]:
    """Write ``report.md`` and the chart into ``out``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    png = chart([f for s in sections for f in s.figures], out / chart_name)
    md = out / "report.md"
    md.write_text(render(run, sections, chart_name), encoding="utf-8")
    return md, png
