"""Application models: domains (messaging, ride dispatch, streaming, feeds, ...) written with the
behaviour API of `behaviour.py`, each in its own module, registered as component types."""
from . import behaviour  # noqa: F401
from . import instagram  # noqa: F401
