"""Zipf keys: drawn from a CDF shared by the streams of one (n, s), looked up in sorted order."""
import numpy as np

from simulator.workload.keys import ZipfKeys, zipf_cdf


def test_the_sorted_lookup_gives_each_draw_the_key_its_own_search_gives():
    zipf = ZipfKeys(dist="zipf", n=50_000, s=0.9)
    cdf = np.cumsum(zipf.probabilities())
    cdf[-1] = 1.0
    u = np.random.default_rng(7).random(4096)  # the stream's first block
    stream = zipf.make(np.random.default_rng(7))
    keys = [stream.next() for _ in range(4096)]
    assert keys == np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1).tolist()
    assert len(set(keys)) > 100  # not a degenerate block: many keys, in draw order


def test_streams_of_one_zipf_share_a_read_only_cdf_and_draw_independently():
    zipf = ZipfKeys(dist="zipf", n=20_000, s=1.1)
    a, b = zipf.make(np.random.default_rng(1)), zipf.make(np.random.default_rng(2))
    first = [a.next() for _ in range(1000)]
    assert first != [b.next() for _ in range(1000)]
    # a stream made again from the same seed draws the same keys (the shared CDF is not changed)
    again = zipf.make(np.random.default_rng(1))
    assert [again.next() for _ in range(1000)] == first
    cdf = zipf_cdf(20_000, 1.1)
    assert cdf is zipf_cdf(20_000, 1.1) and not cdf.flags.writeable
    assert cdf[-1] == 1.0 and np.all(np.diff(cdf) >= 0)
