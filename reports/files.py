"""Writing a run's or a comparison's files and charts to an output directory.

`write_run` and `write_comparison` write into a staging directory and put it in place whole
(`output_directory.staged`): the directory holds one run's files, all of them, or is left as it was.
`write_run_files` and `write_comparison_files` write into a directory already staged (the CLI
stages it before the run, so whatever the run itself writes lands there too).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.language.yamlio import dump_yaml

from .output_directory import staged, write_file, write_manifest
from .trace_files import TRACE_FILES


def write_run(result: Any, out: str | Path, charts: bool = True) -> list[Path]:
    """summary.json, requests.parquet, timeseries.csv, components.csv, scenario.yaml, a traced run's
    trace.json and trace.otlp.json, charts, manifest.json and report.html in `out`, replaced whole."""
    with staged(out) as stage:
        names = [p.name for p in write_run_files(result, stage, charts, shown=Path(out))]
    return [Path(out) / n for n in names]


def write_run_files(result: Any, d: Path, charts: bool = True, shown: Path | None = None) -> list[Path]:
    """A run's files in the (staging) directory `d`; errors name the file as `shown/name`."""
    files = [
        ("summary.json", lambda p: p.write_text(result.to_json(), encoding="utf-8")),
        # row group by row group: bounded memory for a run of any length
        ("requests.parquet", lambda p: result.write_requests(p)),
        ("timeseries.csv", lambda p: result.timeseries.to_csv(p, index=False)),
        ("components.csv", lambda p: result.components.to_csv(p, index=False)),
        # The configuration actually used, defaults included, next to the results it produced.
        ("scenario.yaml", lambda p: p.write_text(dump_yaml(result.effective_config), encoding="utf-8")),
    ]
    if getattr(result, "op_history", None) is not None:  # `history: true`: the operations, in both forms
        from simulator.consistency import events_of, to_edn, to_jsonl

        events = events_of(result.op_history)
        files.append(("history.jsonl", lambda p: p.write_text(to_jsonl(events), encoding="utf-8")))
        files.append(("history.edn", lambda p: p.write_text(to_edn(events), encoding="utf-8")))
    if getattr(result, "traces", None) is not None:  # a traced run: its spans in both formats (docs/tracing.md)
        from .trace_files import write_trace

        meta = {"scenario": result.scenario_name, "seed": result.seed}
        files.append((TRACE_FILES[0], lambda p: write_trace(result.traces, p, "chrome", meta)))
        files.append((TRACE_FILES[1], lambda p: write_trace(result.traces, p, "otlp", meta)))
    if charts:
        from .charts import run_charts

        files.append(("charts", lambda _p: run_charts(result, d)))
    return _write(d, files, shown)


def write_comparison(study: Any, out: str | Path, charts: bool = True) -> list[Path]:
    """comparison.json, replications.csv (every run), variants.csv, differences.csv, scenario.yaml,
    charts, manifest.json and report.html in `out`, replaced whole."""
    with staged(out) as stage:
        names = [p.name for p in write_comparison_files(study, stage, charts, shown=Path(out))]
    return [Path(out) / n for n in names]


def write_comparison_files(study: Any, d: Path, charts: bool = True, shown: Path | None = None) -> list[Path]:
    files = [
        ("comparison.json", lambda p: p.write_text(study.to_json(), encoding="utf-8")),
        ("replications.csv", lambda p: study.replications_frame.to_csv(p, index=False)),
        ("variants.csv", lambda p: study.table.to_csv(p, index=False)),
        ("differences.csv", lambda p: study.differences.to_csv(p, index=False)),
        ("scenario.yaml", lambda p: p.write_text(dump_yaml(study.effective_config), encoding="utf-8")),
    ]
    if charts:
        from .cap_charts import cap_chart
        from .comparison_charts import comparison_charts

        files.append(("charts", lambda _p: comparison_charts(study, d) + cap_chart(study, d)))
    return _write(d, files, shown)


def _write(d: Path, files: list[tuple[str, Any]], shown: Path | None) -> list[Path]:
    """Each file, then the manifest (of every file now in `d`) and report.html built from them."""
    from .html_report import write_report

    shown = shown or d
    for name, write in files:
        write_file(d / name, write, shown / name)
    write_manifest(d, shown)
    write_report(d, shown=shown)
    return sorted(p for p in d.iterdir() if p.is_file())
