"""Writing a run's machine-readable files and charts to a directory."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.language.yamlio import dump_yaml


def write_run(result: Any, out: str | Path, charts: bool = True) -> list[Path]:
    """summary.json, requests.parquet, timeseries.csv, components.csv, scenario.yaml, charts."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    p = out / "summary.json"
    p.write_text(result.to_json(), encoding="utf-8")
    written.append(p)
    p = out / "requests.parquet"
    result.write_requests(p)  # row group by row group: bounded memory for a run of any length
    written.append(p)
    p = out / "timeseries.csv"
    result.timeseries.to_csv(p, index=False)
    written.append(p)
    p = out / "components.csv"
    result.components.to_csv(p, index=False)
    written.append(p)
    # The configuration actually used, defaults included, next to the results it produced.
    p = out / "scenario.yaml"
    p.write_text(dump_yaml(result.effective_config), encoding="utf-8")
    written.append(p)
    if charts:
        from .charts import run_charts

        written += run_charts(result, out)
    from .html_report import write_report

    written.append(write_report(out))
    return written


def write_comparison(study: Any, out: str | Path, charts: bool = True) -> list[Path]:
    """comparison.json, replications.csv (every run), variants.csv, differences.csv, scenario.yaml, charts."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, write in (
        ("comparison.json", lambda p: p.write_text(study.to_json(), encoding="utf-8")),
        ("replications.csv", lambda p: study.replications_frame.to_csv(p, index=False)),
        ("variants.csv", lambda p: study.table.to_csv(p, index=False)),
        ("differences.csv", lambda p: study.differences.to_csv(p, index=False)),
        ("scenario.yaml", lambda p: p.write_text(dump_yaml(study.effective_config), encoding="utf-8")),
    ):
        p = out / name
        write(p)
        written.append(p)
    if charts:
        from .comparison_charts import comparison_charts

        written += comparison_charts(study, out)
    from .html_report import write_report

    written.append(write_report(out))
    return written
