"""Each distribution's samples match its stated mean (and variance), within a few standard errors."""
import math

import numpy as np
import pytest

from simulator.sampling.distributions import DistributionError, Sampler, parse_distribution

N = 200_000
SPECS = [
    "constant(value=5ms)", "exponential(mean=10ms)", "exponential(rate=50/s)", "uniform(min=1ms, max=3ms)",
    "normal(mean=10ms, std=4ms)", "normal(mean=1ms, std=2ms)", "lognormal(mean=20ms, std=10ms)",
    "lognormal(median=20ms, p99=200ms)", "pareto(alpha=3.5, scale=10ms)", "pareto(alpha=2.5, mean=10ms)",
    "erlang(k=3, mean=30ms)", "gamma(shape=0.5, mean=10ms)", "weibull(shape=1.5, scale=10ms)",
    "empirical(values=[1ms, 2ms, 7ms])",
]


@pytest.mark.parametrize("spec", SPECS)
def test_sample_mean_matches(spec):
    d = parse_distribution(spec)
    x = d.sample_block(np.random.default_rng(1), N)
    assert (x >= 0).all()
    if d.variance == 0:
        assert np.all(x == d.mean)
        return
    # 5 standard errors of the mean; for infinite-variance tails use the sample's own spread
    se = math.sqrt((d.variance if math.isfinite(d.variance) else x.var()) / N)
    assert abs(x.mean() - d.mean) < 5 * se, (x.mean(), d.mean, se)
    if math.isfinite(d.variance) and "pareto" not in spec:
        # the variance of the sample variance needs the 4th moment; use the sample's to size the bound
        m4 = np.mean((x - x.mean()) ** 4)
        se_var = math.sqrt((m4 - x.var() ** 2) / N)
        assert abs(x.var() - d.variance) < 5 * se_var, (x.var(), d.variance, se_var)


def test_lognormal_by_median_and_p99():
    x = parse_distribution("lognormal(median=20ms, p99=300ms)").sample_block(np.random.default_rng(2), N)
    assert np.median(x) == pytest.approx(0.020, rel=0.02)
    assert np.percentile(x, 99) == pytest.approx(0.300, rel=0.05)


@pytest.mark.parametrize("spec", [s for s in SPECS])
def test_spec_round_trip(spec):
    d = parse_distribution(spec)
    again = parse_distribution(d.spec())
    assert again == d and again.mean == pytest.approx(d.mean)


def test_mapping_and_bare_quantity_forms():
    assert parse_distribution({"dist": "exponential", "mean": "1s"}).mean == 1.0
    assert parse_distribution("250ms").mean == 0.25
    assert parse_distribution("4KB", kind="size").mean == 4000


def test_sampler_gives_the_block_values_in_order():
    d = parse_distribution("exponential(mean=1s)")
    s = Sampler(d, np.random.default_rng(7), block=64)
    got = [s.next() for _ in range(200)]
    rng = np.random.default_rng(7)
    want = np.concatenate([d.sample_block(rng, 64) for _ in range(4)])[:200]
    np.testing.assert_array_equal(got, want)


def test_scaled_divides_every_value():
    d = parse_distribution("lognormal(mean=20ms, std=10ms)")
    a = d.sample_block(np.random.default_rng(3), 100)
    b = d.scaled(0.5).sample_block(np.random.default_rng(3), 100)
    np.testing.assert_allclose(b, a * 0.5)


def test_empirical_from_csv(tmp_path):
    (tmp_path / "lat.csv").write_text("latency,other\n0.001,1\n0.003,1\n5ms,1\n")
    d = parse_distribution({"dist": "empirical", "file": "lat.csv", "column": "latency"}, base_dir=tmp_path)
    assert d.mean == pytest.approx(0.003)
    with pytest.raises(DistributionError, match="did you mean 'latency'"):
        parse_distribution({"dist": "empirical", "file": "lat.csv", "column": "latncy"}, base_dir=tmp_path)
    with pytest.raises(DistributionError, match="file not found"):
        parse_distribution({"dist": "empirical", "file": "nope.csv", "column": "x"}, base_dir=tmp_path)


@pytest.mark.parametrize("spec,frag", [
    ("exponental(mean=1s)", "did you mean 'exponential'"),
    ("lognormal(mean=1s)", "(mean, std) or (median, p99)"),
    ("exponential(mean=-1s)", "greater than 0"),
    ("uniform(min=3ms, max=1ms)", "min <= max"),
    ("lognormal(median=20ms, p99=10ms)", "greater than the median"),
    ("empirical(values=[])", "non-empty"),
    ("exponential(mean=5)", "duration with a unit"),
    ("pareto(alpha=1, mean=1s)", "alpha > 1"),
])
def test_parse_errors(spec, frag):
    with pytest.raises(DistributionError, match=frag.replace("(", r"\(").replace(")", r"\)")):
        parse_distribution(spec)


BLOCK_FREE_CASES = ["5ms", "exponential(mean=2ms)", "uniform(min=1ms, max=3ms)", "lognormal(mean=2ms, std=1ms)",
                    "lognormal(median=15ms, p99=60ms)", "pareto(alpha=1.5, scale=1ms)", "gamma(shape=0.5, scale=2ms)",
                    "gamma(shape=3, scale=2ms)", "erlang(k=3, mean=6ms)", "weibull(shape=0.7, scale=1ms)"]


@pytest.mark.parametrize("spec", BLOCK_FREE_CASES)
def test_a_block_free_distribution_draws_the_same_numbers_whatever_the_block_sizes(spec):
    dist = parse_distribution(spec)
    assert dist.block_free and dist.scaled(2.0).block_free
    whole = Sampler(dist, np.random.Generator(np.random.PCG64(7)))  # blocks of 4,096 from the start
    growing = Sampler(dist, np.random.Generator(np.random.PCG64(7)), own_stream=True)  # 256, 512, ...
    assert [whole.next() for _ in range(10_000)] == [growing.next() for _ in range(10_000)]


def test_a_truncated_normal_depends_on_its_block_sizes_so_it_keeps_whole_blocks():
    dist = parse_distribution("normal(mean=1ms, std=2ms)")  # about 30% of draws below 0 are drawn again
    one = dist.sample_block(np.random.Generator(np.random.PCG64(7)), 512)
    rng = np.random.Generator(np.random.PCG64(7))
    two = np.concatenate([dist.sample_block(rng, 256), dist.sample_block(rng, 256)])
    assert not np.array_equal(one, two)  # the redraws come after each block
    assert not dist.block_free
