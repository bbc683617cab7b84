"""Instagram's news feed (issue 13): the follower graph, the feed cache and fan-out workers, and the
application of users who post and read (fan-out on write, on read, or hybrid). docs/apps/instagram.md."""
from . import stores  # noqa: F401  (registers feed_cache and fanout_workers)
from . import feed  # noqa: F401  (registers instagram)
