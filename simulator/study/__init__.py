"""Studies over many runs: comparisons of variants with replications (common random numbers), sweeps
and grids, SLOs and the capacity search, executors (local pool, Dask) and the on-disk run cache.
The top library layer: imports everything below, is imported only by reports, the API and the CLI."""
