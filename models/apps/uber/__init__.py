"""Ride dispatch (Uber-like): the city grid and its sharded location index (`geo.py`, component
`geo_shard`), the YAML keys and the surge formula (`config.py`), drivers and offer rounds
(`fleet.py`) and the dispatch application (`dispatch.py`, component `ride_dispatch`)."""
from . import dispatch, geo  # noqa: F401
