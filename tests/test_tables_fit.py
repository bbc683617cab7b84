"""Terminal tables fit 80 columns without cutting a figure, and figures read without e-notation."""
import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

import simulator
from reports.comparison_table import comparison_table, differences_table, estimate, fmt, print_comparison
from reports.formatting import duration, ms, num, significant
from reports.table import print_summary, summary_tables

READY = sorted(p.stem for p in Path("scenarios").glob("*.yaml"))
SHORT = ["duration=20s", "warmup=2s"]
EXTRA = {"sharding": ["components.users.reshard.0.at=10s"]}  # the resharding table too
E_NOTATION = re.compile(r"\d(\.\d+)?[eE][+-]?\d")
COUNTS = ("generated", "ok", "rejected", "timed_out", "errors")


@pytest.fixture(scope="module")
def summaries():
    return {name: simulator.run(simulator.load_scenario(f"scenarios/{name}.yaml",
                                                        overrides=SHORT + EXTRA.get(name, []))).summary
            for name in READY}


def _console(width):
    return Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)


def _whole(figure: str, text: str) -> bool:
    """`figure` appears with no digit, comma or point glued to either side (not cut, not a part)."""
    return re.search(rf"(?<![\d.,]){re.escape(figure)}(?![\d.,]|…)", text) is not None


def _figure_cells(tables):
    """The text of every cell of a right-aligned (figure) column."""
    for table in tables:
        for col in table.columns:
            if col.justify == "right":
                for cell in col.cells:
                    plain = Text.from_markup(cell).plain if isinstance(cell, str) else str(cell)
                    if plain:
                        yield plain


def _check_fits(text: str, width: int) -> None:
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    assert not E_NOTATION.search(text), E_NOTATION.search(text)


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", READY)
def test_every_figure_of_a_run_summary_is_whole(summaries, name, width):
    s = summaries[name]
    console = _console(width)
    print_summary(s, console)
    text = console.file.getvalue()
    _check_fits(text, width)
    for cell in _figure_cells(summary_tables(s)):
        assert cell in text, cell  # on one line, whole
    # Independently of how the tables are built: the counts and latencies of the summary.
    for key in COUNTS:
        assert _whole(f"{s['requests'][key]:,}", text), key
    for k in ("mean", "p50", "p99", "max"):
        assert _whole(ms(s["latency_s"][k]), text), k
    for comp, c in s["components"].items():
        assert comp in text.replace("\n", "") or comp in text
        if c.get("served") is not None:
            assert _whole(f"{c['served']:,}", text), comp


@pytest.fixture(scope="module")
def study():
    from simulator.study.comparison import compare
    from simulator.study.plan import plan

    sc = simulator.load_scenario("scenarios/lb-compare.yaml", overrides=["duration=8s", "warmup=1s"])
    st = plan(sc, (), 2, (), None, source="lb-compare.yaml")
    return compare(sc, st.axes, st.replications, baseline=st.baseline, metrics=st.metrics), st.metrics


@pytest.mark.parametrize("width", [80, 120])
def test_comparison_and_differences_tables_fit(study, width):
    result, metrics = study
    console = _console(width)
    print_comparison(result, metrics, console)
    text = console.file.getvalue()
    _check_fits(text, width)
    tables = [comparison_table(result, metrics), differences_table(result, metrics)]
    cells = list(_figure_cells(tables))
    assert any("(±" in c for c in cells)  # the differences table is there, ~160 columns before
    for cell in cells:
        assert cell in text, cell
    for label in (v.label for v in result.variants):
        assert label.replace(" ", "") in re.sub(r"[\s│]", "", text)  # names may wrap, never lose a letter


@pytest.mark.parametrize("x,text", [
    (0.0523, "0.0523"), (1234.6, "1,235"), (5.19e-07, "<0.0001"), (-0.25, "-0.250"), (0, "0"), (6.8, "6.80"),
])
def test_significant_figures_in_fixed_point(x, text):
    assert significant(x) == text


@pytest.mark.parametrize("seconds,text", [
    (0.0524, "52.4 ms"), (2.5, "2.50 s"), (2.18e-05, "21.8 µs"), (2.18e-08, "0.0218 µs"), (0, "0"),
    (0.9996, "1.00 s"), (3600.0, "3,600 s"), (None, "-"),
])
def test_a_duration_picks_its_unit(seconds, text):
    assert duration(seconds) == text


def test_no_e_notation_at_any_magnitude():
    for k in range(-12, 10):
        for x in (10.0 ** k, 5.19 * 10.0 ** k):
            for text in (significant(x), duration(x), ms(x), num(x), fmt("latency_p99_s", x, x / 10),
                         fmt("error_rate", x, x / 3), estimate("availability", x, x / 7)):
                assert not E_NOTATION.search(text), (x, text)


def test_a_capacity_figure_has_one_unit_and_no_e_notation():
    # `± 2.1e+02` and `5.19e-07` came from capacity's lines.
    assert estimate("error_rate", 5.19e-07, 2.1e-07) == "0.000052 ± 0.000021%"
    assert estimate("latency_p99_s", 0.1234, 0.0213) == "123 ± 21 ms"
    assert estimate("throughput_rps", 412.3, 210.4) == "410 ± 210/s"


def test_a_percentage_cell_carries_no_unit_the_header_does():
    from reports.comparison_table import fmt_half, header

    assert header("availability") == "availability %" and header("error_rate") == "error rate %"
    cell = f"{fmt('availability', 0.0152, 0.00027)} (±{fmt_half('availability', 0.0002)})"
    assert cell == "1.520 ± 0.027 (±0.020)" and "%" not in cell
