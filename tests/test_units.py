import pytest

from simulator.language.units import (UnitError, fmt_duration, fmt_rate, fmt_size, parse_duration, parse_fraction,
                             parse_rate, parse_size)


@pytest.mark.parametrize("text,seconds", [("100us", 1e-4), ("5ms", 0.005), ("1.5s", 1.5), ("2m", 120.0),
                                          ("1h", 3600.0), ("1.5 s", 1.5), ("3min", 180.0), ("0", 0.0), (0, 0.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5000", 5000, 1.5, "5 parsecs", "ms", True, None, [1]])
def test_duration_needs_a_unit(bad):
    with pytest.raises(UnitError, match="duration with a unit"):
        parse_duration(bad)


@pytest.mark.parametrize("text,per_s", [("7.2/s", 7.2), ("120/m", 2.0), ("3600/h", 1.0), ("2/ms", 2000.0),
                                        ("10 per s", 10.0)])
def test_rates(text, per_s):
    assert parse_rate(text) == pytest.approx(per_s)


def test_rate_needs_a_unit():
    with pytest.raises(UnitError, match="like '40/s'"):
        parse_rate("40")


@pytest.mark.parametrize("text,n", [("10B", 10), ("4KB", 4000), ("1.5MB", 1.5e6), ("2GB", 2e9), ("1KiB", 1024),
                                    ("1GiB", 2 ** 30)])
def test_sizes(text, n):
    assert parse_size(text) == n


def test_fractions():
    assert parse_fraction(0.2) == 0.2
    assert parse_fraction("20%") == pytest.approx(0.2)
    for bad in (1.5, -0.1, "120%", "x", True):
        with pytest.raises(UnitError, match="probability between 0 and 1"):
            parse_fraction(bad)


@pytest.mark.parametrize("x", [0.1, 1 / 3, 1e-9, 12345.678])
def test_formatters_round_trip_exactly(x):
    assert parse_duration(fmt_duration(x)) == x
    assert parse_rate(fmt_rate(x)) == x
    assert parse_size(fmt_size(x)) == x
