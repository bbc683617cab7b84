"""Component models. Importing this package registers every component type."""
from . import cache, database, eviction, load_balancer, server  # noqa: F401
