"""Component models. Importing this package registers every component type."""
from . import database, load_balancer, server  # noqa: F401
