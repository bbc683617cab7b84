"""Component models. Importing this package registers every component type."""
from . import cache, cdn, database, eviction, load_balancer, replicated, server, sharded, sharding  # noqa: F401
