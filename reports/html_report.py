"""One self-contained `report.html` for a run or a comparison directory: it opens offline.

It reads only the files a run or a comparison wrote (summary.json or comparison.json,
scenario.yaml, the PNG charts) and embeds everything: charts as base64 images, the topology as
inline SVG, the tables as HTML.
"""
from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from simulator.language.errors import ScenarioError

from .charts import PALETTE, literal_text, plt
from .formatting import by_start, secs
from .output_directory import MANIFEST, REPORT_TMP, verify, write_file
from .result_files import COMPARISON_SHAPE, RUN_SHAPE, damaged, read_config, read_json

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .5rem}
th{background:#f3f3f3;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}pre{background:#f7f7f7;padding:.8rem;overflow:auto;font-size:.8rem}
.meta{color:#666}.warn{color:#8a5a00}.best{font-weight:bold;color:#006b3c}
"""


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for v in row:
            cls = ' class="num"' if isinstance(v, (int, float)) or (isinstance(v, str) and v[:1].isdigit()) else ""
            cells.append(f"<td{cls}>{v if isinstance(v, str) and v.startswith('<') else html.escape(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v * 1000:.3g}"


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}"></figure>'


# --- topology --------------------------------------------------------------------------------------
def edges_of(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(from, to, label) for every reference between components and from workloads to targets."""
    out: list[tuple[str, str, str]] = []
    for name, c in (config.get("components") or {}).items():
        def add(target: Any, label: str = "") -> None:
            if isinstance(target, str):
                out.append((name, target, label))

        steps = [("", st) for st in c.get("calls") or []]
        steps += [(op, st) for op, oc in (c.get("operations") or {}).items() for st in (oc or {}).get("calls") or []]
        for label, step in steps:
            if isinstance(step, str):
                step = {"target": step}
            add(step.get("target"), label)
            for t in step.get("parallel") or []:
                add(t, label or "parallel")
        for b in c.get("backends") or []:
            add(b)
        add(c.get("backing"), "miss")
        add(c.get("origin"), "miss")
        for s in c.get("shards") or []:
            add(s, "shard")
        for ev in c.get("reshard") or []:
            add(ev.get("add"), f"added at {ev.get('at')}")
        for r in c.get("replicas") or [] if isinstance(c.get("replicas"), list) else []:
            add(r, "replica")
        for g, gc in (c.get("consumer_groups") or {}).items():
            add(gc.get("target"), g)
            add(gc.get("dead_letter"), "dead letter")
    for name, w in (config.get("workloads") or {}).items():
        out.append((f"[{name}]", w.get("target"), ""))
    return out


@literal_text()
def topology_svg(config: dict[str, Any]) -> str:
    """The components as a layered graph (workloads on the left), drawn as inline SVG."""
    comps = config.get("components") or {}
    edges = [(a, b, lbl) for a, b, lbl in edges_of(config) if b in comps]
    nodes = [f"[{w}]" for w in config.get("workloads") or {}] + list(comps)
    depth = {n: 0 for n in nodes if n.startswith("[")}
    for _ in range(len(nodes)):
        for a, b, _l in edges:
            if a in depth and depth.get(b, -1) < depth[a] + 1 <= len(nodes):
                depth[b] = depth[a] + 1
    for n in nodes:
        depth.setdefault(n, max(depth.values(), default=0) + 1)
    layers: dict[int, list[str]] = {}
    for n in nodes:
        layers.setdefault(depth[n], []).append(n)
    tallest = max(len(v) for v in layers.values())
    fig, ax = plt.subplots(figsize=(max(6, 2.4 * len(layers)), max(2.5, 0.9 * tallest)))
    pos = {}
    for d, members in layers.items():
        for i, n in enumerate(members):
            pos[n] = (d, (tallest - 1) / 2 - i + (len(members) - 1) / 2 - (tallest - 1) / 2)
    for a, b, lbl in edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        ax.annotate("", (x2 - 0.28, y2), (x1 + 0.28, y1),
                    arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1, "shrinkA": 0, "shrinkB": 0})
        if lbl:
            ax.text((x1 + x2) / 2, (y1 + y2) / 2 + 0.08, lbl, fontsize=7, color="#555555", ha="center")
    types = sorted({c.get("type", "") for c in comps.values()})
    for n, (x, y) in pos.items():
        kind = "workload" if n.startswith("[") else comps[n].get("type", "")
        color = "#DDDDDD" if kind == "workload" else PALETTE[types.index(kind) % len(PALETTE)]
        ax.text(x, y, f"{n.strip('[]')}\n{kind}", ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round,pad=0.4", "fc": color, "ec": "#333333", "alpha": 0.35 if kind != "workload" else 1})
    ax.set_xlim(-0.6, max(layers) + 0.6)
    ax.set_ylim(-tallest / 2 - 0.2, tallest / 2 + 0.2)
    ax.axis("off")
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})  # same input, same file
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


# --- sections --------------------------------------------------------------------------------------
def _faults_section(faults: list[dict[str, Any]]) -> str:
    if not faults:
        return "<p>No faults on the timeline.</p>"
    # Numbered as on the charts (F1, F2 …), so a shaded band can be looked up here.
    rows = [[f"F{i + 1}", secs(f["start_s"]), "end" if f.get("end_s") is None else secs(f["end_s"]), f["description"]]
            for i, f in enumerate(by_start(faults))]
    return _table(["chart", "from (s)", "to (s)", "fault"], rows)


def _impact_section(s: dict[str, Any]) -> list[str]:
    """The terminal's fault impact table (reports/impact_table.py), as HTML: only for runs with faults."""
    from .impact_table import impact_tables

    tables = impact_tables(s)
    if not tables:
        return []
    console = Console(record=True, width=160, file=io.StringIO())
    for t in tables:
        console.print(t)
    return ["<h3>Fault impact</h3>", console.export_html(inline_styles=True, code_format="<pre>{code}</pre>")]


def _run_sections(s: dict[str, Any]) -> list[str]:
    r = s["requests"]
    lat = s["latency_s"]
    out = ["<h2>Summary</h2>", _table(
        ["generated", "ok", "rejected", "timed out", "errors", "in flight", "throughput/s", "availability"],
        [[r["generated"], r["ok"], r["rejected"], r["timed_out"], r["errors"], r["in_flight"],
          s["throughput_rps"], "-" if s["availability"] is None else f"{100 * s['availability']:.3f}%"]])]
    keys = ["mean", "p50", "p90", "p95", "p99", "p999", "max"]
    rows = [["all"] + [_ms(lat[k]) for k in keys]]
    rows += [[f"operation {op}"] + [_ms(o["latency_s"][k]) for k in keys] for op, o in s.get("operations", {}).items()]
    out += ["<h3>Latency of successful requests (ms)</h3>", _table(["scope"] + keys, rows)]
    comp_rows = []
    for name, c in s["components"].items():
        u = c.get("utilization")
        comp_rows.append([name, c.get("type"), "-" if u is None else f"{100 * u:.1f}%", c.get("queue_length_mean"),
                          c.get("queue_length_max"), _ms(c.get("wait_s_mean")), c.get("served"), c.get("rejected"),
                          c.get("failed")])
    out += ["<h3>Components</h3>", _table(["component", "type", "utilisation", "queue mean", "queue max",
                                           "wait mean ms", "served", "rejected", "failed"], comp_rows)]
    from .data_tables import data_tables
    from .registries import type_tables
    from .table import details_table

    # The terminal's per-type tables and details, rendered as HTML with inline styles.
    tables = data_tables(s["components"])
    details = details_table({n: c for n, c in s["components"].items() if c.get("type") not in type_tables})
    if details is not None:
        tables.append(details)
    if tables:
        console = Console(record=True, width=160, file=io.StringIO())
        for t in tables:
            console.print(t)
        out += ["<h3>Component details</h3>", console.export_html(inline_styles=True, code_format="<pre>{code}</pre>")]
    from .resilience_table import resilience_tables

    policy_tables = resilience_tables(s)
    if policy_tables:
        console = Console(record=True, width=160, file=io.StringIO())
        for t in policy_tables:
            console.print(t)
        out += ["<h3>Resilience policies and rate limits</h3>",
                console.export_html(inline_styles=True, code_format="<pre>{code}</pre>")]
    if s.get("warmup_auto"):
        w = s["warmup_auto"]
        out.append(f"<p>Warm-up chosen automatically: {w['chosen_s']:.4g} s ({html.escape(w['method'])}).</p>")
    return out


def _comparison_sections(c: dict[str, Any]) -> list[str]:
    import math

    from simulator.results.metrics import TABLE_METRICS

    from .comparison_table import fewer, fmt, header

    metrics = TABLE_METRICS + [m for m in c.get("extra_metrics", []) if m not in TABLE_METRICS]
    out = [f"<h2>Variants</h2><p class='meta'>{len(c['variants'])} variants x {c['replications']} replications; "
           f"replication seeds {html.escape(str(c['replication_seeds']))} shared by every variant (common random "
           f"numbers); {c['runs_from_cache']} of {c['runs']} runs from the cache. Mean ± 95% confidence "
           f"half-width; <span class='best'>★</span> the best of each column (among variants whose other settings are the same); "
           f"≈ not significantly different from it (the paired 95% interval of the difference contains 0); unmarked: "
           f"significantly worse; (n=k): from k of the replications only (the others have no value).</p>"]
    marks = c.get("marks") or {}
    rows = []
    for v in c["variants"]:
        row = [html.escape(v["variant"])]
        for m in metrics:
            text = html.escape(fmt(m, v.get(m) if v.get(m) is not None else math.nan, v.get(f"{m}_ci")
                                   if v.get(f"{m}_ci") is not None else math.nan)
                               + fewer(int(v.get(f"{m}_n") or 0), c["replications"]))
            mark = marks.get(v["variant"], {}).get(m)
            row.append(f"<span class='best'>★ {text}</span>" if mark == "best" else f"≈ {text}" if mark == "tied"
                       else text)
        rows.append(row)
    out.append(_table(["variant"] + [header(m) for m in metrics], rows))
    if c.get("warmup_auto"):
        from .comparison_table import warmup_line

        out.append(f"<p class='meta'>{html.escape(warmup_line(c['warmup_auto']))}.</p>")
    diffs = [d for d in c["differences"] if d["metric"] in metrics]
    if diffs:
        against = c["baseline"]
        if c.get("compared_axis") and len(c["axes"]) > 1:
            axis = c["compared_axis"].rsplit(".", 1)[-1]
            value = next((part.split("=", 1)[1] for part in c["baseline"].split(", ") if part.startswith(axis + "=")),
                         c["baseline"])
            against = f"{axis}={value} under the same other settings"
        rows = []
        for label in dict.fromkeys(d["variant"] for d in diffs):
            row = [html.escape(label)]
            for m in metrics:
                d = next((d for d in diffs if d["variant"] == label and d["metric"] == m), None)
                if d is None or d["difference"] is None:
                    row.append("-")
                    continue
                text = fmt(m, d["difference"], d["paired_ci"] if d["paired_ci"] is not None else math.nan)
                row.append(f"<b>{html.escape(text)} *</b>" if d["significant"] else html.escape(text))
            rows.append(row)
        out += [f"<h3>Differences against {html.escape(against)}</h3>",
                "<p class='meta'>Paired by replication seed, ± the 95% half-width; * significant (the interval "
                "excludes 0). Every interval without pairing is in differences.csv.</p>",
                _table(["variant"] + [header(m) for m in metrics], rows)]
    return out


def write_report(directory: str | Path, shown: Path | None = None) -> Path:
    """Write `directory/report.html` from the files a run or a comparison left there (checked
    against its manifest: only this run's charts are embedded). `shown`: the directory's name in
    error messages (the output directory, while this one is its staging copy)."""
    d = Path(directory)
    summary_path, comparison_path = d / "summary.json", d / "comparison.json"
    if not d.is_dir() or not (summary_path.exists() or comparison_path.exists()):
        raise ScenarioError("not a run or comparison directory: it needs summary.json (dsim run --out) or "
                            "comparison.json (dsim compare --out)", file=str(directory))
    listed = verify(d)
    is_run = summary_path.exists()
    source = summary_path if is_run else comparison_path
    if listed is not None and source.name not in listed:
        raise ScenarioError(f"not in {MANIFEST}: written after the directory was", file=str(source))
    data = read_json(source, RUN_SHAPE if is_run else COMPARISON_SHAPE)
    cfg_text, config = read_config(d / "scenario.yaml")
    charts = sorted(p for p in d.glob("*.png") if listed is None or p.name in listed)
    try:
        body = _body(d, data, is_run, config, cfg_text, charts, listed)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        raise damaged(source, exc) from None
    path = d / "report.html"
    tmp = d / f"{REPORT_TMP}{os.getpid()}.tmp"  # replaced in one step: never half a report
    try:
        write_file(tmp, lambda p: p.write_text(body, encoding="utf-8"), (shown or d) / "report.html")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _traces_section(d: Path, listed: Any) -> list[str]:
    """Links to a traced run's span files (`dsim run --out` of a run with `trace:` or `--trace`)."""
    from .trace_files import TRACE_FILES

    names = [n for n in TRACE_FILES if (d / n).exists() and (listed is None or n in listed)]
    if not names:
        return []
    what = {"trace.json": "Chrome/Perfetto trace-event JSON: open it at https://ui.perfetto.dev or chrome://tracing",
            "trace.otlp.json": "OpenTelemetry OTLP/JSON: upload it to Jaeger or send it to an OTel collector"}
    items = "".join(f"<li><a href='{html.escape(n)}'>{html.escape(n)}</a>: {html.escape(what[n])}</li>" for n in names)
    return ["<h2>Traces</h2><p class='meta'>Spans of the requests sampled for tracing (docs/tracing.md).</p>",
            f"<ul>{items}</ul>"]


def _body(d: Path, data: dict[str, Any], is_run: bool, config: dict[str, Any], cfg_text: str,
          charts: list[Path], listed: Any = None) -> str:
    title = f"{data['scenario']}: {'run' if is_run else 'comparison'}"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    if is_run:
        parts.append(f"<p class='meta'>seed {data['seed']}; {data['duration_s']:g} s simulated, of which "
                     f"{data['warmup_s']:g} s warm-up excluded from every figure.</p>")
    else:
        axes = "; ".join(f"{a['path']} = {', '.join(map(str, a['values']))}" for a in data["axes"])
        parts.append(f"<p class='meta'>base seed {data['seed']}; varied: {html.escape(axes)}; executor "
                     f"{html.escape(data['executor'])}.</p>")
    if config.get("description"):
        parts.append(f"<p>{html.escape(str(config['description']))}</p>")
    if config.get("components"):
        try:
            parts += ["<h2>Topology</h2>", topology_svg(config)]
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            raise damaged(d / "scenario.yaml", exc) from None
    parts += _run_sections(data) if is_run else _comparison_sections(data)
    parts += ["<h2>Fault timeline</h2>", _faults_section(data.get("faults", []))]
    if is_run:
        parts += _impact_section(data)
        parts += _traces_section(d, listed)
    if charts:
        parts += ["<h2>Charts</h2>"] + [_img(p) for p in charts]
    warnings = data.get("warnings") or []
    if warnings:
        parts += ["<h2>Warnings</h2><ul>"] + [f"<li class='warn'>{html.escape(w)}</li>" for w in warnings] + ["</ul>"]
    if cfg_text:
        parts += ["<h2>Effective configuration</h2><p class='meta'>Every value actually used, defaults included.</p>",
                  f"<pre>{html.escape(cfg_text)}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)
