"""The `dsim` command line: parses arguments, calls the library, maps its errors to exit codes.

Exit codes: 0 success, 1 a run failed (`dsim run`: or a check the scenario declares, `check:`, failed),
2 bad input (scenario or arguments); `dsim check`: 0 linearizable, 1 not, 3 undecided within its budget.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click

import simulator
from simulator.language.errors import DsimError, ScenarioError


class SignalStop:
    """SIGTERM and SIGINT stop dsim the same way: the first raises KeyboardInterrupt in the main
    thread, so a study cancels its runs and stops its worker processes, a staged output directory
    is removed, and the exit code is the shell's for that signal (130, 143). A second signal during
    that clean-up is ignored; a third exits at once. Installed for one command, then the previous
    handlers are put back."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.previous: dict[int, object] = {}

    def install(self) -> None:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self.handle)

    def restore(self) -> None:
        import signal

        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def handle(self, signum: int, _frame: object) -> None:
        from simulator.study.interrupts import defer

        self.count += 1
        if self.count == 1:
            self.signum = signum
            if not defer():  # (a pool waiting on its runs raises it itself, at a safe point)
                raise KeyboardInterrupt
        if self.count >= 3:
            import os

            os._exit(128 + signum)


def _interrupted_code() -> int:
    """The exit code of an interrupted command: 128 + the signal (SIGINT when it came as Python's own
    KeyboardInterrupt, as with the library called directly)."""
    ctx = click.get_current_context(silent=True)
    stop = ctx.find_root().obj if ctx is not None else None
    return 128 + ((stop.signum if isinstance(stop, SignalStop) else None) or 2)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ScenarioError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except DsimError as exc:
        click.echo(f"error: {exc}", err=True)
        code = getattr(exc, "exit_code", 1)
        sys.exit(_interrupted_code() if code == 130 else code)  # an interrupted study: 130 for Ctrl-C, 143 for SIGTERM
    except KeyboardInterrupt:  # a signal outside a study's runs (loading, starting a cluster, one run, writing)
        click.echo("error: interrupted", err=True)
        sys.exit(_interrupted_code())
    except OSError as exc:  # writing results (a full disk, a file removed under us)
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@contextmanager
def _staged(out: str | None) -> Iterator[Path | None]:
    """The staging directory of --out (None without it): put in place whole when the block ends
    without an error, removed otherwise (see reports/output_directory.py)."""
    if not out:
        yield None
        return
    from reports.output_directory import staged

    with _notes(), staged(out, label="--out") as stage:
        yield stage


@contextmanager
def _notes() -> Iterator[None]:
    """Chart notes (characters no font can draw) as one `note:` line each, not a Python warning."""
    import warnings

    from reports.charts import MissingGlyphs

    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MissingGlyphs)
            yield
    finally:
        for w in caught:  # outside the recording: others go to the filters as usual
            if issubclass(w.category, MissingGlyphs):
                click.echo(f"note: {w.message}", err=True)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _check_out(out: str | None) -> None:
    """Check the --out directory now, so a path that cannot be written fails before any run."""
    if out:
        from reports.output_directory import check_target

        check_target(out, label="--out")


def _check_scheduler(scheduler: str | None) -> None:
    """A Dask scheduler's address: [scheme://]host:port (tcp://10.0.0.5:8786, [::1]:8786)."""
    import re

    if scheduler is None:
        return
    if not re.fullmatch(r"([a-z][a-z0-9+.-]*://)?([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}", scheduler) or \
            not 0 < int(scheduler.rsplit(":", 1)[1]) < 65536:
        raise ScenarioError(f"expected a scheduler address such as tcp://host:8786, got {scheduler!r}",
                            file="--scheduler")


MAX_WORKERS = 1024  # parallel runs: processes (or Dask workers) are started for them


def _check_workers(workers: int | None) -> None:
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ScenarioError(f"must be between 1 and {MAX_WORKERS}, got {workers:,}", file="--workers")


def _load(file: str, sets: tuple[str, ...], seed: int | None, duration: str | None, warmup: str | None = None,
          faults: tuple[str, ...] = ()):
    return simulator.load_scenario(file, overrides=list(sets), seed=seed, duration=duration, warmup=warmup,
                                   faults=faults)


set_option = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                          help="Override any scenario value, e.g. --set components.app.workers=4.")
seed_option = click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
fault_option = click.option("--fault", "faults", multiple=True, metavar="TEXT",
                            help='Add a fault, e.g. --fault "crash app-1 at 30s for 10s"; repeatable. Grammar: '
                                 '<type> <targets> at <time> [for <duration>] [key=value ...] (docs/faults.md).')
format_option = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                             show_default=True)
duration_option = click.option("--duration", default=None, help="Override the simulated duration, e.g. 60s.")
warmup_option = click.option("--warmup", default=None, metavar="DURATION|auto",
                             help="Override the warm-up left out of the figures, e.g. 10s, or auto.")
quiet_option = click.option("--quiet", "-q", is_flag=True,
                            help="No progress bar, table or 'wrote' line: only warnings and errors (on stderr). "
                                 "--format json still prints its JSON.")


def limit_options(fn):
    """The pre-run estimate's limits (simulator/simulation/limits.py): run, compare, capacity."""
    fn = click.option("--force", is_flag=True,
                      help="Run even if the pre-run estimate is above every limit (requests, events, time-series samples).")(fn)
    return click.option("--max-requests", type=click.IntRange(min=1), default=None, metavar="N",
                        help="Refuse a run estimated to make more than N requests (default 50,000,000) "
                             "or 20·N heap events.")(fn)


def _limits(max_requests: int | None, force: bool):
    """check(scenario, label) for a study's variants: refuse a runaway one before any run starts."""
    from simulator.simulation.limits import preflight

    return lambda sc, label: preflight(sc, max_requests, force, what=f"the variant {label}")


def many_runs_options(fn):
    """Where and how the runs of a study execute (compare, capacity)."""
    for option in reversed([
        click.option("--workers", type=int, default=None, help="Parallel runs (default: every core; 1: in this process)."),
        click.option("--executor", type=click.Choice(["local", "dask"]), default=None,
                     help="Where runs go: local processes (default) or Dask (dask alone: a local cluster)."),
        click.option("--scheduler", default=None, metavar="ADDRESS",
                     help="A Dask scheduler (tcp://host:8786) to send the runs to (implies --executor dask)."),
        click.option("--no-cache", is_flag=True, help="Compute every run again (do not read or write the run cache)."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Where finished runs are cached."),
    ]):
        fn = option(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(simulator.__version__, prog_name="dsim")
def main() -> None:
    """dsim: simulate a distributed system described in a YAML scenario."""
    ctx = click.get_current_context()
    ctx.obj = SignalStop()
    ctx.obj.install()
    ctx.call_on_close(ctx.obj.restore)


RUN_EPILOG = """\b
Examples:
  dsim run scenarios/lb-basic.yaml
  dsim run scenarios/lb-basic.yaml --set components.lb.algorithm=random
  dsim run scenarios/three-tier.yaml --duration 60s --warmup 10s --seed 3
  dsim run scenarios/cdn.yaml --out results/cdn
  dsim run scenarios/mmc-basic.yaml --format json -q > summary.json

\b
--out DIR writes:
  summary.json      the summary, as JSON (what --format json prints)
  requests.parquet  one row per request: times, outcome, latency, ...
  timeseries.csv    per interval: throughput, latency, queues
  components.csv    per component: utilisation, queue, served, ...
  scenario.yaml     the configuration run, defaults and overrides included
  *.png             charts (not with --no-charts)
  report.html       one self-contained page: summary and charts
  history.jsonl     with history: true, the checkable workloads' operations
  history.edn       the same in Jepsen's EDN (for Knossos and Elle)
  trace.json        with trace: or --trace, the sampled requests' spans
                    (Chrome/Perfetto); trace.otlp.json: the same as OTLP/JSON

\b
Exit codes: 0 done, 1 a check the scenario declares (check:) failed,
2 bad input.
"""


@main.command(short_help="Run a scenario and print its summary.", epilog=RUN_EPILOG)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", metavar="DIRECTORY", default=None,
              help="Write summary.json, requests.parquet, timeseries.csv, components.csv, scenario.yaml, "
                   "charts, manifest.json and report.html to this directory, replaced whole (see below).")
@format_option
@set_option
@fault_option
@seed_option
@duration_option
@warmup_option
@quiet_option
@click.option("--no-charts", is_flag=True, help="With --out, skip the PNG charts.")
@limit_options
@click.option("--profile", is_flag=True,
              help="Show where the run's time went: events and wall-clock time by kind of event.")
@click.option("--trace", "trace_file", metavar="FILE", default=None,
              help="Write spans of sampled requests to FILE: Chrome/Perfetto JSON, or OpenTelemetry OTLP/JSON "
                   "for a name ending in .otlp.json (the scenario's trace: sampling, else 1%; docs/tracing.md).")
@click.option("--trace-format", type=click.Choice(["chrome", "otlp"]), default=None,
              help="With --trace: the file's format (default: from its name).")
def run(file: str, out: str | None, fmt: str, sets: tuple[str, ...], seed: int | None,
        duration: str | None, warmup: str | None, quiet: bool, no_charts: bool, max_requests: int | None,
        force: bool, profile: bool, faults: tuple[str, ...] = (), trace_file: str | None = None,
        trace_format: str | None = None) -> None:
    """Run the scenario FILE and print its summary."""
    from simulator.simulation.limits import preflight

    with _errors():
        scenario = _load(file, sets, seed, duration, warmup, faults)
        _check_out(out)
        if trace_format is not None and trace_file is None:
            raise ScenarioError("needs --trace FILE", file="--trace-format")
        if trace_file is not None:
            scenario = _with_trace(scenario, trace_file)
        # Before a run that may take long: what `dsim validate` would warn about (overload, loops).
        early = preflight(scenario, max_requests, force)
        for warning in early:
            click.echo(f"warning: {warning}", err=True)
        with _staged(out) as stage:
            written, failed = _run(scenario, fmt, stage, no_charts, Path(out) if out else None, quiet, profile, early,
                                   (trace_file, trace_format))
        if out and fmt == "table" and not quiet:
            click.echo(f"wrote {written} files to {out}")
    if failed:  # after the files are in place: a scenario's declared check is a CI test
        click.echo(f"error: declared consistency check(s) failed: {', '.join(failed)}", err=True)
        sys.exit(1)


def _with_trace(scenario, trace_file: str):
    """The scenario with tracing on (its own `trace:` settings, else the defaults), after checking that
    the trace file can be written."""
    from simulator.scenario.schema import with_overrides

    target = Path(trace_file)
    if target.is_dir() or not (target.parent if str(target.parent) else Path(".")).is_dir():
        raise ScenarioError("expected a file in an existing directory", file=trace_file)
    return scenario if scenario.trace is not None else with_overrides(scenario, {"trace": {}})


def _run(scenario, fmt: str, stage: Path | None, no_charts: bool, shown: Path | None, quiet: bool,
         profile: bool, early: list[str], trace: tuple[str | None, str | None] = (None, None)) -> tuple[int, list[str]]:
    """One run; with --out its files go to `stage` (put in place when the caller's block ends).
    Returns how many files it wrote and the declared checks (`check:`) that failed."""
    import time

    from reports.run_speed import print_speed

    show_progress = fmt == "table" and not quiet and sys.stdout.isatty()
    started = time.perf_counter()
    if show_progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeElapsedColumn(), transient=True) as bar:
            task = bar.add_task("run", total=1.0)
            result = simulator.run(scenario, progress=lambda f: bar.update(task, completed=f), profile=profile)
    else:
        result = simulator.run(scenario, profile=profile)
    wall_s = time.perf_counter() - started
    if fmt == "json":
        click.echo(result.to_json(), nl=False)
        if profile:  # wall-clock figures stay out of the JSON, which is the same for the same seed
            from rich.console import Console

            print_speed(result.summary.get("events"), wall_s, result.profile, Console(stderr=True))
    elif not quiet:
        from reports.table import print_summary

        print_summary(result.summary)
        print_speed(result.summary.get("events"), wall_s, result.profile)
    trace_file, trace_format = trace
    if trace_file is not None:
        from reports.trace_files import format_for, write_trace

        kind = format_for(trace_file, trace_format)
        n = write_trace(result.traces or [], trace_file, kind, {"scenario": scenario.name, "seed": result.seed})
        if fmt == "table" and not quiet:
            click.echo(f"wrote {n:,} spans of {len({s['trace_id'] for s in result.traces or []}):,} traced "
                       f"requests to {trace_file} ({kind})")
    written = 0
    if stage is not None:
        from reports.files import write_run_files

        written = len(write_run_files(result, stage, charts=not no_charts, shown=shown))
    for warning in result.warnings:
        # (the table prints its warnings under it); those found by the run itself (warmup: auto)
        if (fmt == "json" or quiet) and warning not in early:
            click.echo(f"warning: {warning}", err=True)
    checks = (result.summary.get("consistency") or {}).get("checks") or {}
    return written, [name for name, c in checks.items() if c["verdict"] == "fail"]


def _executor_kind(executor: str | None, scheduler: str | None) -> str:
    if scheduler and executor == "local":
        raise ScenarioError("a scheduler is for --executor dask, not local", file="--scheduler")
    _check_scheduler(scheduler)
    return executor or ("dask" if scheduler else "local")


def _progress_bar(label: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)


@main.command(short_help="Compare variants of a scenario, with confidence intervals.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--vary", "vary", multiple=True, metavar="PATH=VALUES",
              help="A setting to vary: a list (a,b,c; commas inside brackets belong to a value) or a range "
                   "(10/s..100/s:10 = 10 points, 10/s..100/s:+30/s = by steps). Repeat for a grid.")
@click.option("--replications", "-r", type=int, default=None, help="Runs per variant (default 5, or the file's).")
@many_runs_options
@click.option("--baseline", default=None, help="Variant the others are compared with (default: the first).")
@click.option("--metric", "metrics", multiple=True, help="Columns of the table (e.g. latency_p999_s); repeatable.")
@click.option("--out", metavar="DIRECTORY", default=None,
              help="Write comparison.json, replications.csv, variants.csv, differences.csv, charts, report.html.")
@format_option
@set_option
@fault_option
@seed_option
@duration_option
@warmup_option
@quiet_option
@click.option("--no-charts", is_flag=True, help="With --out, skip the charts.")
@limit_options
def compare(file: str, vary: tuple[str, ...], replications: int | None, workers: int | None, executor: str | None,
            scheduler: str | None, baseline: str | None, metrics: tuple[str, ...], out: str | None, fmt: str,
            sets: tuple[str, ...], seed: int | None, duration: str | None, warmup: str | None, quiet: bool,
            no_cache: bool, cache_dir: str | None, no_charts: bool, max_requests: int | None, force: bool,
            faults: tuple[str, ...] = ()) -> None:
    """Run variants of the scenario FILE, each several times, and compare them with confidence intervals."""
    from simulator.study.plan import plan
    from simulator.study.comparison import compare as run_comparison
    from simulator.language.errors import ScenarioError
    from simulator.study.executors import make_executor
    from simulator.study.run_cache import ResultCache

    with _errors():
        scenario = _load(file, sets, seed, duration, warmup, faults)
        study = plan(scenario, vary, replications, metrics, baseline, source=file)
        _check_workers(workers)
        _check_out(out)
        cache = None if no_cache else ResultCache(cache_dir)
        show_progress = fmt == "table" and not quiet and sys.stdout.isatty()
        args = (scenario, study.axes, study.replications)
        check = _limits(max_requests, force)
        with make_executor(_executor_kind(executor, scheduler), workers, scheduler) as ex:
            if show_progress:
                with _progress_bar("simulating") as bar:
                    task = bar.add_task("runs", total=None)
                    result = run_comparison(*args, ex, cache, baseline=study.baseline, metrics=study.metrics,
                                            check=check,
                                            progress=lambda done, total, _c: bar.update(task, completed=done,
                                                                                        total=total))
            else:
                result = run_comparison(*args, ex, cache, baseline=study.baseline, metrics=study.metrics,
                                        check=check)
        if fmt == "json":
            click.echo(result.to_json(), nl=False)
        elif quiet:
            for w in result.summary()["warnings"]:
                click.echo(f"warning: {w}", err=True)
        else:
            from reports.comparison_table import print_comparison

            print_comparison(result, study.metrics)
            if result.from_cache:
                click.echo(f"{result.from_cache} of {result.total_runs} runs came from the cache ({cache.dir});\n"
                           "--no-cache to compute them again")  # two lines: each fits 80 columns
        with _staged(out) as stage:
            if stage is not None:
                from reports.files import write_comparison_files

                written = write_comparison_files(result, stage, charts=not no_charts, shown=Path(out))
        if out and fmt == "table" and not quiet:
            click.echo(f"wrote {len(written)} files to {out}")


@main.command(short_help="Find the highest load (or any setting) that meets SLOs.")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--slo", "slos", multiple=True, metavar="METRIC<VALUE",
              help="An objective: p99<200ms (or latency_p99_s<200ms), mean<=50ms, availability>99.9%, error_rate<1%, throughput>=400/s.")
@click.option("--vary", "path", required=True, metavar="PATH", help="The numeric setting to search, e.g. "
              "workloads.web.arrivals.rate (it starts from the scenario's value).")
@click.option("--low", default=None, help="A value known to meet the SLOs (default: the scenario's).")
@click.option("--high", default=None, help="The highest value worth trying.")
@click.option("--tolerance", default="2%", show_default=True, help="Stop when the bracket is this narrow (relative).")
@click.option("--replications", "-r", type=int, default=5, show_default=True, help="Runs per point.")
@many_runs_options
@format_option
@set_option
@seed_option
@duration_option
@limit_options
def capacity(file: str, slos: tuple[str, ...], path: str, low: str | None, high: str | None, tolerance: str,
             replications: int, workers: int | None, executor: str | None, scheduler: str | None, fmt: str,
             sets: tuple[str, ...], seed: int | None, duration: str | None, no_cache: bool,
             cache_dir: str | None, max_requests: int | None, force: bool) -> None:
    """Find the highest value of a setting (usually the load) at which every SLO holds."""
    import json

    from simulator.language.errors import ScenarioError
    from simulator.study.executors import make_executor
    from simulator.study.run_cache import ResultCache
    from simulator.scenario.schema import MAX_REPLICATIONS
    from simulator.study.slo import MIN_TOLERANCE, current_value, find_capacity, parse_slo
    from simulator.study.sweep import format_value, quantity
    from simulator.language.units import UnitError, parse_fraction
    from reports.comparison_table import estimate

    with _errors():
        scenario = _load(file, sets, seed, duration)
        objectives = [parse_slo(s) for s in slos]
        if not objectives:
            raise ScenarioError("give at least one --slo, e.g. --slo 'p99<200ms'", file="--slo")
        if not 1 <= replications <= MAX_REPLICATIONS:
            raise ScenarioError(f"must be between 1 and {MAX_REPLICATIONS:,}, got {replications:,}",
                                file="--replications")
        kind, _start = current_value(scenario, path)
        bounds = []
        for flag, raw in (("--low", low), ("--high", high)):
            if raw is None:
                bounds.append(None)
                continue
            try:
                q = quantity(raw)
            except UnitError as exc:
                raise ScenarioError(str(exc), file=flag) from None
            if q is None or q[0] != kind or q[1] <= 0:
                raise ScenarioError(f"expected a positive value in the unit of {path}, got {raw!r}", file=flag)
            bounds.append(q[1])
        try:
            tol = parse_fraction(tolerance)
        except UnitError as exc:
            raise ScenarioError(str(exc), file="--tolerance") from None
        if not MIN_TOLERANCE <= tol < 1:
            # Bisecting a doubled bracket down to 0.1% takes about 10 points; finer asks for more
            # points than a search makes (and than the runs' noise can tell apart).
            raise ScenarioError(f"must be between {MIN_TOLERANCE:.1%} and 100% (relative), got {tolerance}",
                                file="--tolerance")
        _check_workers(workers)
        cache = None if no_cache else ResultCache(cache_dir)
        show = fmt == "table"
        with make_executor(_executor_kind(executor, scheduler), workers, scheduler) as ex:
            result = find_capacity(
                scenario, path, objectives, replications, ex, cache, bounds[0], bounds[1], tol,
                check=_limits(max_requests, force),
                progress=(lambda p: click.echo(f"  {path} = {format_value(kind, p.value)}: "
                                               f"{'meets' if p.passed else 'misses'} the SLOs", err=True))
                if show else None)
        summary = result.summary()
        if fmt == "json":
            click.echo(json.dumps(summary, indent=2))
            return
        beyond = (f"{summary['first_failing']} does not" if summary["first_failing_value"] is not None
                  else "so does every value up to --high: the limit is beyond it")
        click.echo(f"capacity: {path} = {summary['capacity']} meets every SLO "
                   f"({', '.join(summary['slos'])}); {beyond}")
        if summary["uncertainty"] is not None:
            click.echo(f"  the limit lies between {summary['capacity']} and {summary['first_failing']} "
                       f"(each point: the mean of {replications} replications)")
        for slo in objectives:
            fig = (summary["at_capacity"] or {}).get(slo.text)
            if fig is None:
                continue
            sure = "holds with 95% confidence" if fig["margin_is_significant"] else "within the noise: marginal"
            click.echo(f"  {slo.text}: {estimate(slo.metric, fig['mean'], fig['ci'])} at capacity ({sure})")


@main.command(short_help="Write report.html from a results directory.")
@click.argument("directory", type=click.Path())
def report(directory: str) -> None:
    """Write DIRECTORY/report.html (self-contained) from what `run --out` or `compare --out` wrote there."""
    from reports.html_report import write_report

    with _errors(), _notes():
        click.echo(f"wrote {write_report(directory)}")


@main.command(short_help="Check a scenario without running it.")
@click.argument("file", type=click.Path(dir_okay=False))
@set_option
def validate(file: str, sets: tuple[str, ...]) -> None:
    """Check the scenario FILE without running it."""
    with _errors():
        scenario = _load(file, sets, None, None)
        env, system = simulator.build(scenario)
        warnings = system.warnings()
        click.echo(f"{file}: ok ({len(system.components)} components, {len(system.workloads)} workloads, "
                   f"{len(scenario.faults)} faults)")
        for w in warnings:
            click.echo(f"warning: {w}")


from simulator.consistency.models import MODELS as CONSISTENCY_MODELS  # noqa: E402 (the --model choices)

CHECK_EPILOG = """\b
Examples:
  dsim check results/run/history.jsonl --model register
  dsim check jepsen/history.edn --model cas-register --budget 30s
  dsim check jepsen.log --model cas-register --format json

\b
Exit codes: 0 linearizable, 1 not linearizable, 3 undecided within the budget, 2 bad input.
"""


@main.command(short_help="Check an operation history for linearizability and anomalies.", epilog=CHECK_EPILOG)
@click.argument("history", type=click.Path(dir_okay=True))
@click.option("--model", "model_name", required=True,
              type=click.Choice(list(CONSISTENCY_MODELS)),
              help="The object the operations act on (see docs/consistency.md).")
@click.option("--budget", default="10s", show_default=True, metavar="DURATION",
              help="Search time before answering 'unknown' (exit 3), e.g. 10s, 2min; 0 for no limit.")
@click.option("--input-format", "input_fmt", type=click.Choice(["jsonl", "edn", "log"]), default=None,
              help="The history's format (default: from the suffix, else the content).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(history: str, model_name: str, budget: str, input_fmt: str | None, fmt: str) -> None:
    """Check the operation HISTORY (dsim's history.jsonl, Jepsen's history.edn or jepsen.log):
    linearizability, then stale reads, read-your-writes, monotonic reads, lost writes and G0/G1c/G2."""
    import json

    from simulator.consistency import check as check_history
    from simulator.consistency import read_history
    from simulator.language.units import parse_duration

    with _errors():
        try:
            budget_s = parse_duration(budget)
        except (ValueError, ScenarioError) as exc:
            raise ScenarioError(f"--budget {budget!r}: expected a duration such as 10s or 2min ({exc})",
                                file="dsim check") from None
        report = check_history(read_history(history, input_fmt), model_name, budget_s if budget_s > 0 else None)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        for line in report.lines():
            click.echo(line)
    sys.exit(report.exit_code)


LIST_KINDS = {  # `dsim list KIND` -> (title, registry attribute)
    "components": ("component types", "components"),
    "algorithms": ("load-balancing algorithms", "lb_algorithms"),
    "eviction": ("eviction policies", "eviction_policies"),
    "sharding": ("sharding strategies", "sharding_strategies"),
    "replication": ("replication modes", "replication_modes"),
    "read-from": ("read_from policies", "read_from_policies"),
    "cache-modes": ("cache modes", "cache_modes"),
    "ack-modes": ("queue ack modes", "queue_ack_modes"),
    "policies": ("call policies (resilience:)", "call_policies"),
    "rate-limiters": ("rate limiters (rate_limit:)", "rate_limiters"),
    "scaling-rules": ("scaling rules (autoscale: rule)", "scaling_rules"),
    "arrivals": ("arrival processes", "arrivals"),
    "keys": ("key distributions", "key_dists"),
    "faults": ("fault types", "faults"),
    "distributions": ("distributions", "distributions"),
}


def _list_entries(kinds: list[str]) -> dict[str, list[tuple[str, str]]]:
    """kind -> [(name, one-line description)] from the registries."""
    from simulator.scenario.plugins import load_components

    load_components()
    from simulator.language import registry
    import simulator.sampling.distributions  # noqa: F401  (registers the distributions)

    # A distribution's one-line description is its `doc`; everything else's is its docstring.
    return {kind: [(name, getattr(cls, "doc", "") or registry.summary_line(cls))
                   for name, cls in getattr(registry, LIST_KINDS[kind][1])] for kind in kinds}


@main.command(name="list", short_help="List component types, algorithms, faults and more.")
@click.argument("kind", required=False, metavar="[KIND]")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_(kind: str | None, fmt: str) -> None:
    """List what a scenario can name: component types, algorithms, policies, arrival processes,
    key distributions, faults and distributions; or only those of KIND (e.g. `dsim list faults`).

    KIND is one of: components, algorithms, eviction, sharding, replication, read-from, cache-modes,
    ack-modes, policies, rate-limiters, arrivals, keys, faults, distributions."""
    import json
    import shutil
    import textwrap

    from simulator.language.errors import did_you_mean

    with _errors():
        wanted = (kind or "").lower()
        wanted = wanted if wanted in LIST_KINDS or f"{wanted}s" not in LIST_KINDS else f"{wanted}s"  # fault
        if kind and wanted not in LIST_KINDS:
            raise ScenarioError(f"no kind {kind!r}{did_you_mean(kind, LIST_KINDS)}; one of: {', '.join(LIST_KINDS)}",
                                file="dsim list")
        entries = _list_entries([wanted] if kind else list(LIST_KINDS))
    if fmt == "json":
        click.echo(json.dumps({k: [{"name": n, "description": d} for n, d in v] for k, v in entries.items()},
                              indent=2))
        return
    width = max(shutil.get_terminal_size((80, 24)).columns, 60)
    for k, items in entries.items():
        click.echo(f"{LIST_KINDS[k][0]}:")
        names = max((len(n) for n, _ in items), default=0)
        indent = min(names, 24) + 4
        for name, doc in items:
            # Wrapped under itself rather than cut or left to the terminal to break mid-word.
            first = f"  {name:<{indent - 3}} "
            lines = textwrap.wrap(doc, width - indent, break_on_hyphens=False) or [""]
            if len(first) > indent:
                click.echo(first.rstrip())
                first = " " * indent
            click.echo(first + lines[0])
            for line in lines[1:]:
                click.echo(" " * indent + line)


EXPLORE_EPILOG = """\b
Examples:
  dsim explore scenarios/three-tier.yaml --runs 50 --slo 'availability>99%' --out found.yaml
  dsim explore scenarios/three-tier.yaml --runs 200 --slo 'p99<500ms' --kinds crash,partition --max-faults 2
  dsim run found.yaml        (the timeline found, shrunk: the violation again)

\b
Exit code: 0 when no timeline breaks the property, 1 when one does (written with --out), 2 on bad input.
"""


@main.command(short_help="Find (and shrink) a fault timeline that breaks an SLO or a check.", epilog=EXPLORE_EPILOG)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--runs", type=int, default=100, show_default=True, help="Random fault timelines to try.")
@click.option("--slo", "slos", multiple=True, metavar="METRIC<VALUE",
              help="The property: p99<500ms, availability>99.9%, ... (as dsim capacity); repeatable. Declared "
                   "consistency checks count too.")
@click.option("--explore-seed", type=int, default=1, show_default=True,
              help="Seed of the timelines drawn (the scenario's own seed is kept for its runs).")
@click.option("--kinds", default=None, metavar="K1,K2",
              help="Fault kinds drawn (default: crash,partition,pause,clock_skew,latency,packet_loss; also slow).")
@click.option("--targets", default=None, metavar="N1,N2",
              help="Components (or zones) faults may name (default: every component).")
@click.option("--max-faults", type=int, default=3, show_default=True, help="Most faults in one timeline.")
@click.option("--max-down", default=None, metavar="DURATION", help="Most crash + pause time in one timeline.")
@click.option("--max-fault-duration", default=None, metavar="DURATION",
              help="Longest window of one fault (default: half the measured time).")
@click.option("--keep-going", is_flag=True, help="Try every timeline (count failures) before shrinking the first.")
@click.option("--shrink-runs", type=int, default=200, show_default=True, help="Most candidate timelines tried while shrinking (run or from the cache).")
@click.option("--out", metavar="FILE", default=None, help="Write the shrunk timeline as a ready scenario file.")
@many_runs_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@set_option
@seed_option
@duration_option
@limit_options
def explore(file: str, runs: int, slos: tuple[str, ...], explore_seed: int, kinds: str | None, targets: str | None,
            max_faults: int, max_down: str | None, max_fault_duration: str | None, keep_going: bool,
            shrink_runs: int, out: str | None, workers: int | None, executor: str | None, scheduler: str | None,
            no_cache: bool, cache_dir: str | None, fmt: str, sets: tuple[str, ...], seed: int | None,
            duration: str | None, max_requests: int | None, force: bool) -> None:
    """Run FILE under random fault timelines until an SLO or a declared check fails; shrink that
    timeline to the smallest one that still fails and print (or write) it. The scenario's own
    faults are replaced by the drawn ones."""
    import json
    import shlex

    from simulator.simulation.limits import preflight
    from simulator.study.executors import make_executor, usable_cores
    from simulator.study.explore import explore as run_explore, write_found
    from simulator.study.explore_draw import Budget, check_kinds, describe
    from simulator.study.run_cache import ResultCache
    from simulator.study.slo import parse_slo
    from simulator.language.units import UnitError, parse_duration

    with _errors():
        scenario = _load(file, sets, seed, duration)
        objectives = [parse_slo(s) for s in slos]
        times = {}
        for flag, raw in (("--max-down", max_down), ("--max-fault-duration", max_fault_duration)):
            try:
                times[flag] = None if raw is None else parse_duration(raw)
            except UnitError as exc:
                raise ScenarioError(str(exc), file=flag) from None
            if times[flag] is not None and times[flag] <= 0:
                raise ScenarioError(f"must be greater than 0, got {raw}", file=flag)
        budget = Budget(kinds=check_kinds([k for k in kinds.split(",") if k]) if kinds is not None else Budget.kinds,
                        max_faults=max_faults, max_down_s=times["--max-down"],
                        max_duration_s=times["--max-fault-duration"],
                        targets=tuple(t for t in (targets or "").split(",") if t))
        _check_workers(workers)
        if out:
            parent = Path(out).parent
            if not parent.is_dir() or Path(out).is_dir():
                raise ScenarioError("expected a file in an existing directory", file="--out")
        preflight(scenario, max_requests, force)
        cache = None if no_cache else ResultCache(cache_dir)
        say = (lambda text: click.echo(text, err=True)) if fmt == "text" else None
        with make_executor(_executor_kind(executor, scheduler), workers, scheduler) as ex:
            found = run_explore(scenario, runs, objectives, budget, explore_seed, ex, cache,
                                batch=workers or usable_cores(), keep_going=keep_going,
                                shrink_runs=shrink_runs, step=say)
        if found.found and out:
            command = "dsim explore " + " ".join(shlex.quote(a) for a in sys.argv[2:])
            source = None
            if not sets and seed is None and duration is None:  # the file as written, faults replaced
                from simulator.language.yamlio import load_yaml

                source = load_yaml(Path(file).read_text(encoding="utf-8"), file)[0]
            write_found(scenario, found, out, command, source)
        if fmt == "json":
            click.echo(json.dumps(found.summary(), indent=2))
        elif not found.found:
            click.echo(f"no failure in {found.runs} timelines (explore seed {explore_seed})")
        else:
            click.echo(f"{len(found.failing)} of {found.runs} timelines fail; the first, shrunk in "
                       f"{found.shrink_runs} runs to {len(found.shrunk)} fault{'s' if len(found.shrunk) != 1 else ''}:")
            for f in found.shrunk:
                click.echo(f"  {describe(f)}")
            for v in found.violations:
                click.echo(f"  fails: {v}")
            if out:
                click.echo(f"wrote {out} (dsim run {shlex.quote(out)} shows it)")
        if found.found:
            sys.exit(1)


if __name__ == "__main__":
    main()
