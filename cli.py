"""The `dsim` command line: parses arguments, calls the library, maps its errors to exit codes.

Exit codes: 0 success, 1 a run failed, 2 bad input (scenario or arguments).
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import click

import simulator
from simulator.errors import DsimError, ScenarioError


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except ScenarioError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except DsimError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _load(file: str, sets: tuple[str, ...], seed: int | None, duration: str | None):
    return simulator.load_scenario(file, overrides=list(sets), seed=seed, duration=duration)


set_option = click.option("--set", "sets", multiple=True, metavar="PATH=VALUE",
                          help="Override any scenario value, e.g. --set components.app.workers=4.")
seed_option = click.option("--seed", type=int, default=None, help="Override the scenario's seed.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(simulator.__version__, prog_name="dsim")
def main() -> None:
    """dsim: simulate a distributed system described in a YAML scenario."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Write summary.json, requests.parquet, timeseries.csv, components.csv and charts here.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@set_option
@seed_option
@click.option("--duration", default=None, help="Override the simulated duration, e.g. 60s.")
@click.option("--no-charts", is_flag=True, help="With --out, skip the PNG charts.")
def run(file: str, out: str | None, fmt: str, sets: tuple[str, ...], seed: int | None,
        duration: str | None, no_charts: bool) -> None:
    """Run the scenario FILE and print its summary."""
    with _errors():
        scenario = _load(file, sets, seed, duration)
        show_progress = fmt == "table" and sys.stdout.isatty()
        if show_progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("simulating"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                          TimeElapsedColumn(), transient=True) as bar:
                task = bar.add_task("run", total=1.0)
                result = simulator.run(scenario, progress=lambda f: bar.update(task, completed=f))
        else:
            result = simulator.run(scenario)
        if fmt == "json":
            click.echo(result.to_json(), nl=False)
        else:
            from reports.table import print_summary

            print_summary(result.summary)
        if out:
            from reports.files import write_run

            paths = write_run(result, out, charts=not no_charts)
            if fmt == "table":
                click.echo(f"wrote {len(paths)} files to {out}")
        for warning in result.warnings:
            if fmt == "json":
                click.echo(f"warning: {warning}", err=True)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@set_option
def validate(file: str, sets: tuple[str, ...]) -> None:
    """Check the scenario FILE without running it."""
    with _errors():
        scenario = _load(file, sets, None, None)
        env, model = simulator.build(scenario)
        warnings = model.warnings()
        click.echo(f"{file}: ok ({len(model.components)} components, {len(model.workloads)} workloads, "
                   f"{len(scenario.faults)} faults)")
        for w in warnings:
            click.echo(f"warning: {w}")


@main.command(name="list")
def list_() -> None:
    """List component types, algorithms, distributions, arrival processes and faults."""
    import models  # noqa: F401
    from simulator import registry
    from simulator.distributions import DISTRIBUTIONS

    sections = [
        ("component types", registry.components),
        ("load-balancing algorithms", registry.lb_algorithms),
        ("eviction policies", registry.eviction_policies),
        ("sharding strategies", registry.sharding_strategies),
        ("arrival processes", registry.arrivals),
        ("key distributions", registry.key_dists),
        ("fault types", registry.faults),
    ]
    for title, reg in sections:
        click.echo(f"{title}:")
        for name, cls in reg:
            click.echo(f"  {name:<24} {registry.summary_line(cls)}")
    click.echo("distributions:")
    for name in sorted(DISTRIBUTIONS):
        cls = DISTRIBUTIONS[name]
        click.echo(f"  {name:<24} {getattr(cls, 'doc', '') or registry.summary_line(cls)}")


if __name__ == "__main__":
    main()
