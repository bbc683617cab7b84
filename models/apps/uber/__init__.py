"""Ride dispatch (Uber-like): the city grid and its sharded location index (`geo.py`, component
`geo_shard`) and the dispatch application (`dispatch.py`, component `ride_dispatch`)."""
from . import dispatch, geo  # noqa: F401
