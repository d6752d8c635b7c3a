"""The benchmark's statistics and report, offline: percentiles, ratio direction, the Markdown
report (every figure with its floor and ratio), the chart and the helpers around them."""

from __future__ import annotations

from pathlib import Path

import pytest

from shield_rag.ingest.chunk import chunk_text
from tests.bench.__main__ import selected
from tests.bench.breaker import histogram, server_figure, server_side_notes
from tests.bench.machine import Machine, _commit, describe
from tests.bench.report import (
    RunInfo,
    SectionResult,
    chart,
    fmt,
    latency_figures,
    render,
    write,
)
from tests.bench.stats import Figure, percentiles
from tests.bench.throughput import make_texts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def latency(name: str = "qdrant_find through MCP", m: float = 20.0, f: float = 10.0) -> Figure:
    return Figure(
        section="1. qdrant_find",
        name=name,
        floor_name="direct qdrant-client search",
        unit="ms",
        measured={"p50": m, "p95": m * 2, "p99": m * 3},
        floor={"p50": f, "p95": f * 2, "p99": f * 3},
        samples=200,
        floor_samples=199,
        notes=["a note about qdrant_find"],
    )


def rate() -> Figure:
    return Figure(
        section="6. ingest throughput",
        name="ingest end to end",
        floor_name="the embedder alone",
        unit="chunks/s",
        measured={"value": 50.0},
        floor={"value": 200.0},
        samples=40,
        floor_samples=40,
        higher_is_better=True,
    )


def machine() -> Machine:
    return Machine(
        cpu="Test CPU 9000",
        cores=2,
        ram_gib=7.5,
        os="Debian GNU/Linux 12 (bookworm)",
        kernel="6.1.0",
        python="CPython 3.11.7",
        commit="abc123def456",
        date="2026-11-23 23:00:00 UTC",
    )


def run_info() -> RunInfo:
    return RunInfo(
        machine=machine(),
        backends=["Qdrant: the **stand-in**", "Ollama: the **stand-in**"],
        quick=False,
        wall_seconds=123.4,
        command="python -m tests.bench",
        notes=["Seeded 8 documents"],
    )


def sections() -> list[SectionResult]:
    return [
        SectionResult(1, "qdrant_find", "qdrant_find", "ok", [latency()], seconds=3.0),
        SectionResult(3, "accept", "Accept latency", "failed", reason="RuntimeError: boom"),
        SectionResult(6, "ingest", "Ingest throughput", "ok", [rate()], seconds=9.0),
        SectionResult(7, "converge", "re-converge", "not run", reason="converge.py is missing"),
    ]


# -- stats ----------------------------------------------------------------------------------
def test_percentiles_of_known_data() -> None:
    got = percentiles([float(v) for v in range(1, 102)])  # 1..101
    assert got == {"p50": 51.0, "p95": 96.0, "p99": 100.0}


def test_percentiles_interpolate_between_samples() -> None:
    got = percentiles([10.0, 20.0])
    assert got["p50"] == pytest.approx(15.0)
    assert got["p99"] == pytest.approx(19.9)


def test_percentiles_need_two_samples() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        percentiles([1.0])


def test_ratio_is_larger_when_worse_for_latencies_and_rates_alike() -> None:
    assert latency(m=20, f=10).ratio("p50") == pytest.approx(2.0)
    assert latency(m=10, f=10).ratio("p50") == pytest.approx(1.0)
    assert rate().ratio("value") == pytest.approx(4.0)  # 50/s against a floor of 200/s


def test_ratio_against_zero_is_infinite() -> None:
    assert latency(f=0.0).ratio("p50") == float("inf")


# -- Markdown ---------------------------------------------------------------------------------
def test_report_lists_every_figure_with_floor_ratio_and_samples() -> None:
    text = render(run_info(), sections(), "latency.png")
    lat = latency()
    for figure in (lat, rate()):
        assert figure.name in text
        assert f"*floor:* {figure.floor_name}" in text
    for key in ("p50", "p95", "p99"):
        row = next(line for line in text.splitlines() if f"| {key} |" in line)
        assert f"{fmt(lat.measured[key])} ms" in row
        assert f"{fmt(lat.floor[key])} ms" in row
        assert f"{fmt(lat.ratio(key))}x" in row
    value_row = next(line for line in text.splitlines() if "| value |" in line)
    assert "50.0 chunks/s" in value_row and "200 chunks/s" in value_row and "4.00x" in value_row
    assert "200 / 199" in text and "40 / 40" in text
    assert "- a note about qdrant_find" in text


def test_report_names_the_machine_backends_and_failed_sections() -> None:
    text = render(run_info(), sections(), "latency.png")
    for label, value in machine().rows():
        assert f"| {label} | {value} |" in text
    assert "Qdrant: the **stand-in**" in text and "Ollama: the **stand-in**" in text
    assert "**FAILED**: RuntimeError: boom" in text
    assert "**NOT RUN**: converge.py is missing" in text
    assert "![measured vs floor latency, p50 and p99](latency.png)" in text
    assert "| 3. Accept latency | failed | 0 | 0 s |" in text
    assert "123 s of wall time" in text


def test_report_escapes_pipes_in_cells() -> None:
    figure = latency(name="a | b")
    text = render(run_info(), [SectionResult(1, "q", "q", "ok", [figure])], "x.png")
    assert "a \\| b" in text


def test_fmt_keeps_about_three_significant_digits() -> None:
    assert [fmt(v) for v in (1234.5, 12.345, 1.2345, 0.012345)] == [
        "1,234",
        "12.3",
        "1.23",
        "0.012",
    ]
    assert fmt(float("inf")) == "inf"


def duration(
    m: float, f: float | None, target: float | None = None, ratio: float | None = None
) -> Figure:
    return Figure(
        section="7. site.yml re-converge",
        name="re-converge",
        floor_name="no-op play" if f is not None else "",
        unit="s",
        measured={"value": m},
        floor={"value": f} if f is not None else {},
        samples=1,
        floor_samples=2 if f is not None else 0,
        target={"value": target} if target is not None else {},
        target_ratio=ratio,
    )


def test_targets_bound_the_value_and_the_ratio() -> None:
    assert duration(40.0, 10.0, target=45.0, ratio=5.0).meets_target("value")
    assert not duration(50.0, 10.0, target=45.0, ratio=5.0).meets_target("value")
    assert not duration(40.0, 5.0, target=45.0, ratio=5.0).meets_target("value")  # 8x
    assert duration(300.0, None, target=240.0).has_target("value")
    assert not duration(300.0, None, target=240.0).meets_target("value")
    assert not duration(30.0, 10.0).has_target("value")
    fast = Figure("6.", "x", "y", "chunks/s", {"value": 50.0}, {"value": 60.0}, 1, 1, True)
    fast.target = {"value": 40.0}
    assert fast.meets_target("value")  # a rate's target is a lower bound


def test_a_ratio_bound_on_some_keys_leaves_the_others_unbounded() -> None:
    figure = Figure(
        "1.", "x", "y", "ms", {"p50": 8.0, "p99": 30.0}, {"p50": 5.0, "p99": 10.0}, 9, 9
    )
    figure.target_ratio, figure.target_ratio_keys = 1.5, frozenset({"p50"})
    assert figure.has_target("p50") and not figure.has_target("p99")
    assert not figure.meets_target("p50")  # 1.6x
    assert figure.meets_target("p99")  # 3x, but not bounded
    figure.measured["p50"] = 7.5
    assert figure.meets_target("p50")  # 1.5x


def test_a_section_with_targets_gets_a_target_column_the_others_do_not() -> None:
    figures = [
        duration(40.0, 10.0, target=45.0, ratio=5.0),
        duration(120.0, 10.0, target=100.0),
        duration(200.0, None, target=240.0),
    ]
    text = render(
        run_info(),
        [
            SectionResult(1, "qdrant_find", "qdrant_find", "ok", [latency()]),
            SectionResult(7, "converge", "re-converge", "ok", figures),
        ],
        "latency.png",
    )
    tables = [line for line in text.splitlines() if line.startswith("| Figure |")]
    assert "Target" not in tables[0] and "| Ratio | Target |" in tables[1]
    rows = [line for line in text.splitlines() if line.startswith("| re-converge")]
    assert "| 4.00x | ≤ 45.0 s, ≤ 5.00x: **met** | 1 / 2 |" in rows[0]
    assert "| 12.0x | ≤ 100 s: **NOT met** | 1 / 2 |" in rows[1]
    # no floor: dashes for floor and ratio, and no floor line in the label
    assert rows[2] == "| re-converge | value | 200 s | — | — | ≤ 240 s: **met** | 1 / 0 |"


# -- chart ------------------------------------------------------------------------------------
def test_chart_shows_latencies_only() -> None:
    assert latency_figures([latency(), rate()]) == [latency()]


def test_chart_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = chart([latency(), latency("wide spread", m=900.0, f=0.5), rate()], tmp_path / "l.png")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_chart_without_latency_figures_is_still_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    assert chart([rate()], tmp_path / "empty.png").read_bytes()[:8] == PNG_MAGIC


def test_write_puts_report_and_chart_in_the_directory(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    md, png = write(tmp_path / "out", run_info(), sections())
    assert md == tmp_path / "out" / "report.md" and png == tmp_path / "out" / "latency.png"
    assert "qdrant_find through MCP" in md.read_text()
    assert png.read_bytes()[:8] == PNG_MAGIC


# -- helpers ----------------------------------------------------------------------------------
EXPOSITION = """\
# HELP tool_duration_seconds MCP tool call duration by tool
# TYPE tool_duration_seconds histogram
tool_duration_seconds_bucket{le="0.005",tool="get_job_status"} 290.0
tool_duration_seconds_bucket{le="0.01",tool="get_job_status"} 300.0
tool_duration_seconds_bucket{le="+Inf",tool="get_job_status"} 300.0
tool_duration_seconds_count{tool="get_job_status"} 300.0
tool_duration_seconds_sum{tool="get_job_status"} 0.7
tool_duration_seconds_bucket{le="0.005",tool="qdrant_find"} 1.0
tool_duration_seconds_bucket{le="+Inf",tool="qdrant_find"} 1.0
tool_duration_seconds_count{tool="qdrant_find"} 1.0
tool_duration_seconds_sum{tool="qdrant_find"} 0.001
"""


def test_histogram_reads_one_tools_series() -> None:
    series = histogram(EXPOSITION, "tool_duration_seconds", {"tool": "get_job_status"})
    assert series == {"0.005": 290.0, "0.01": 300.0, "+Inf": 300.0, "count": 300.0, "sum": 0.7}


def test_server_side_notes_give_mean_and_smallest_bucket_share() -> None:
    after = histogram(EXPOSITION, "tool_duration_seconds", {"tool": "get_job_status"})
    before = {"0.005": 90.0, "0.01": 100.0, "+Inf": 100.0, "count": 100.0, "sum": 0.4}
    mean, share = server_side_notes(before, after)
    assert "over 200 calls" in mean and "mean 1.500 ms" in mean and "NOT met" in mean
    assert share.startswith("100.0% of them took at most 5 ms")
    assert "cannot be read" in share


def test_server_figure_is_the_in_server_mean_against_the_target() -> None:
    after = histogram(EXPOSITION, "tool_duration_seconds", {"tool": "get_job_status"})
    before = {"0.005": 90.0, "0.01": 100.0, "+Inf": 100.0, "count": 100.0, "sum": 0.4}
    (figure,) = server_figure(before, after)
    assert figure.measured == {"value": pytest.approx(1.5)} and figure.floor == {"value": 1.0}
    assert figure.samples == 200 and figure.ratio("value") == pytest.approx(1.5)
    assert server_figure(after, after) == []


def test_generated_texts_are_deterministic_and_several_chunks_long() -> None:
    texts = make_texts(3, seed=5)
    assert texts == make_texts(3, seed=5)
    assert len(set(texts)) == 3
    assert all(len(chunk_text(t, 600, 60)) >= 3 for t in texts)


def test_sections_are_selected_by_name_or_number() -> None:
    assert selected(["converge", "1,breaker"]) == {7, 1, 5}
    assert selected(["overload"]) == {8}
    with pytest.raises(SystemExit, match="unknown section"):
        selected(["nope"])


def test_machine_description(tmp_path: Path) -> None:
    here = describe(Path(__file__).resolve().parents[2])
    assert here.cores >= 1 and here.ram_gib > 0 and here.python.startswith("CPython")
    assert [label for label, _unused in here.rows()] == [
        "CPU",
        "Cores",
        "RAM",
        "OS",
        "Python",
        "Git commit",
        "Date",
    ]
    assert _commit(tmp_path).startswith("unknown")
