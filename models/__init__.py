"""Component models. Importing this package registers every component type."""
from . import (  # noqa: F401
    apps, cache, cdn, database, eviction, load_balancer, message_queue, replicated, server, sharded, sharding,
)
