"""Messaging (WhatsApp-like): the application (`app.py`) and its stateful infrastructure (`infra.py`:
WebSocket servers, the presence cache, the offline queue), each a registered component type."""
from . import app, infra  # noqa: F401
