"""Issue 9, "numbers that break the clock" and "misleading behaviour": every number that reaches the
engine is finite and in range, and a bad one is one located line (exit 2), never a traceback, a
hang or a silently wrong run."""
import textwrap

import pytest
from click.testing import CliRunner

import simulator
from cli import main
from simulator.language.errors import ScenarioError

BASE = """
name: t
seed: 1
duration: 2s
components:
  app: {type: server, workers: 2, service_time: exponential(mean=10ms)}
workloads:
  web: {arrivals: poisson(rate=10/s), target: app}
"""


@pytest.fixture
def base(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(BASE))
    return str(path)


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def refused(result, *words):
    """Exit 2 with one `error:` line naming every word."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def loads(overrides):
    return simulator.loads_scenario(textwrap.dedent(BASE), "t.yaml", overrides)


# --- B5, B1, B2, B4, B9 -------------------------------------------------------------------------------
@pytest.mark.parametrize("setting, words", [
    ("duration=1e400s", ["duration", "too large", "1e9s"]),                        # B1: hung
    ("duration=1e308h", ["duration", "too large"]),                                # B1
    ("network.default_latency=1e400ms", ["default_latency", "too large"]),         # B1: all in flight
    ("workloads.web.arrivals=poisson(rate=1e400/s)", ["rate", "too large"]),       # B2: traceback
    ("workloads.web.arrivals=poisson(rate=1e308/s)", ["rate", "too large"]),       # B2
    ("components.app.speed=.inf", ["speed", "finite"]),                            # B2: traceback
    ("components.app.speed=1e-300", ["speed"]),                                    # printed a 300-digit factor
    ("components.app.service_time=lognormal(median=1ms, p99=1e300s)", ["p99", "too large"]),  # B4: OverflowError
    ("seed=-1", ["seed"]),                                                         # B9: numpy traceback
    ("components.app.workers=true", ["workers", "expected a number"]),             # read as 1
    ("workloads.web.start=5s", ["start", "end of the run"]),                       # silently sent nothing
    ("network.links=[{between: [nope, app], latency: 1ms}]", ["between", "nope"]),  # silently ignored
])
def test_bad_numbers_are_one_located_line(base, setting, words):
    refused(invoke("run", base, "--set", setting), *words)


def test_slow_factor_inf_is_refused(base):  # B5 (already refused by its field; now by every float field)
    refused(invoke("run", base, "--set", "faults=[{type: slow, target: app, at: 1s, factor: .inf}]"), "factor")


def test_seed_flag_negative_names_the_flag(base):  # B9 through --seed
    refused(invoke("run", base, "--seed", "-1"), "--seed", "seed")


@pytest.mark.parametrize("value", ["-5s", "0", "0s"])
def test_duration_flag_errors_name_the_flag(base, value):
    line = refused(invoke("run", base, "--duration", value))
    assert line.startswith("error: --duration:"), line


def test_duration_flag_shorter_than_warmup_names_the_flag(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(textwrap.dedent(BASE) + "warmup: 1s\n")
    line = refused(invoke("run", str(path), "--duration", "500ms"), "warm-up")
    assert line.startswith("error: --duration:"), line


def test_slo_threshold_that_overflows_is_refused(base):  # B1: the capacity search never ended
    refused(invoke("capacity", base, "--slo", "p99<1e400s", "--vary", "workloads.web.arrivals.rate"),
            "--slo", "too large")


def test_tolerance_too_fine_blames_tolerance(base):  # blamed --vary after 30 runs
    refused(invoke("capacity", base, "--slo", "p99<1s", "--vary", "workloads.web.arrivals.rate",
                   "--tolerance", "1e-300"), "--tolerance")


def test_capacity_of_a_mapping_does_not_print_it(base):  # printed the whole workload
    line = refused(invoke("capacity", base, "--slo", "p99<1s", "--vary", "workloads.web"), "a mapping")
    assert "'target'" not in line and "{" not in line


def test_range_ending_beyond_the_limit_names_it(base):  # complained about nan/s
    line = refused(invoke("compare", base, "--vary", "workloads.web.arrivals.rate=10/s..1e400/s:3"), "1e400/s")
    assert "nan" not in line


def test_negative_user_id_is_one_line(base):  # two lines naming pydantic's union branches
    line = refused(invoke("run", base, "--set", "workloads.web.attributes={user_id: -1}"), "user_id")
    assert "constrained-int" not in line and ".str" not in line


def test_out_onto_a_file_says_so(base):  # said "File exists"
    refused(invoke("run", base, "--out", "/dev/null"), "--out", "not a directory")


def test_crash_with_no_target_is_refused(base):
    refused(invoke("run", base, "--set", "faults=[{type: crash, target: [], at: 1s}]"), "target")


# --- B24: the clock's resolution ----------------------------------------------------------------------
def test_a_clock_too_coarse_for_the_scenario_is_refused():
    with pytest.raises(ScenarioError, match="clock only resolves") as info:
        loads(["duration=1e9s", "components.app.service_time=1us"])
    assert info.value.path == ("duration",)


def test_huge_start_is_refused():  # start: 1e15s gave 4,352 arrivals/s instead of 100/s
    with pytest.raises(ScenarioError, match="start"):
        loads(["workloads.web.start=1e15s", "duration=1000000000000010s"])


def test_a_long_run_of_coarse_times_is_accepted():
    sc = loads(["duration=1e8s", "workloads.web.arrivals=poisson(rate=1/h)"])
    assert sc.duration == 1e8


# --- the quantity layer -------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["1e400s", "1e10s", "1e10/s", "1e-300s", "1e-300/s", "2PB".replace("PB", "e15KB")])
def test_quantities_out_of_range_are_unit_errors(text):
    from simulator.language.units import OutOfRange, parse_duration, parse_rate, parse_size

    parse = parse_rate if "/" in text else parse_size if "B" in text else parse_duration
    with pytest.raises(OutOfRange):
        parse(text)


def test_quantities_at_the_limits_are_accepted():
    from simulator.language.units import parse_duration, parse_rate, parse_size

    assert parse_duration("1e9s") == 1e9 and parse_duration("1ns".replace("ns", "us")) == 1e-6
    assert parse_rate("1e9/s") == 1e9 and parse_size("1e15B") == 1e15


@pytest.mark.parametrize("spec", ["gamma(shape=nan, mean=1s)", "weibull(shape=1e-9, scale=1s)",
                                  "pareto(alpha=inf, scale=1ms)", "gamma(shape=1e300, mean=1s)"])
def test_distribution_numbers_are_finite_and_bounded(spec):
    with pytest.raises(ScenarioError, match="service_time"):
        loads([f"components.app.service_time={spec}"])


# --- whole numbers too long to print or convert ---------------------------------------------------
def test_a_whole_number_of_thousands_of_digits_is_one_line(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(textwrap.dedent(BASE).replace("seed: 1", "seed: " + "1" * 5000))
    line = refused(invoke("validate", str(path)), "more than 100 digits")
    assert f"{path}:3:" in line


def test_a_huge_count_is_not_printed_in_full(base):
    line = refused(invoke("run", base, "--set", "components.app.workers=" + "9" * 400), "workers", "400-digit")
    assert len(line) < 300


@pytest.mark.parametrize("command", ["compare", "capacity"])
def test_workers_flag_is_bounded(base, command):
    extra = ["--vary", "components.app.workers=1,2"] if command == "compare" else \
        ["--slo", "p99<1s", "--vary", "workloads.web.arrivals.rate"]
    refused(invoke(command, base, *extra, "--workers", "100000000", "--no-cache"), "--workers", "between 1 and")
