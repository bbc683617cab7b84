"""The messaging domain's infrastructure with state of its own: WebSocket servers holding connections,
a Redis-like presence cache with a TTL, and a Kafka-like offline queue partitioned by user id.

Each is a `Station` (workers and a FIFO queue: utilisation, queueing and crash handling come from
there) that keeps the domain state a real one keeps, so a crash does to it what a real crash does:
a WebSocket server drops every connection it holds, a presence cache without persistence forgets
who is online, an offline queue (a replicated log) keeps its messages but answers nothing while down.
The chat logic itself (what a server does with a message) is the application's Python
(`models/apps/whatsapp/app.py`), run on the server through `handler` after the server's own work.
"""
from __future__ import annotations

from typing import Any, Callable, Literal

from pydantic import Field, PositiveInt

from models.station import Station, StationConfig
from simulator.engine.request import ERROR, OK, REJECTED, Reply, Request
from simulator.language import registry
from simulator.language.units import PositiveDuration
from simulator.sampling.distributions import DurationDist

from models.apps.behaviour import distribution


class Session:
    """One client's connection attempt and, once accepted, its connection (`server` set)."""

    __slots__ = ("user", "server", "abandoned")

    def __init__(self, user: int) -> None:
        self.user = user
        self.server: Any = None
        self.abandoned = False  # the client gave up waiting (its connect timed out)


class WebSocketConfig(StationConfig):
    type: Literal["websocket"] = "websocket"
    connections: PositiveInt = Field(600, le=10_000_000, description="Connections the server holds at most; a "
                                     "connect beyond is refused (outcome rejected).")
    workers: PositiveInt = Field(2, le=10_000, description="Handshakes and messages processed at once (cores).")
    handshake_time: DurationDist = distribution("lognormal(mean=50ms, std=20ms)",
                                                "Work of accepting a connection (TLS, authentication, session set-up).")
    message_time: DurationDist = distribution("exponential(mean=1ms)",
                                              "Work per message, receipt, heartbeat or fetch through the server.")


@registry.components.register("websocket")
class WebSocketServer(Station):
    """WebSocket server: holds up to `connections` persistent client connections; handshakes and
    messages share its workers; a crash drops every connection (the clients must reconnect)."""

    Config = WebSocketConfig
    type_name = "websocket"

    def __init__(self, env: Any, name: str, config: WebSocketConfig) -> None:
        self.sessions: dict[int, Session] = {}
        super().__init__(env, name, config)
        self.workers = config.workers
        self.capacity = config.queue_capacity
        self.timeout_s = config.timeout
        self._handshake = self.service_sampler(config.handshake_time, "handshake")
        self._message = self.service_sampler(config.message_time, "message")
        # What runs on the server after its own work (the chat logic): handler(server, req, reply).
        self.handler: Callable[[Any, Request, Reply], None] | None = None
        # Told of the sessions a crash dropped: listener(server, sessions).
        self.listeners: list[Callable[[Any, list[Session]], None]] = []

    def reset_stats(self) -> None:
        super().reset_stats()
        self.accepted = 0
        self.refused = 0  # connects refused for lack of room
        self.wasted = 0  # handshakes done for clients that had given up
        self.dropped = 0  # connections lost to crashes
        self.peak = len(self.sessions)

    def service_time(self, req: Request) -> float:
        return self._handshake() if req.op == "connect" else self._message()

    def after_service(self, req: Request, reply: Reply, t_start: float) -> None:
        self.release()
        op = req.op
        if op == "connect":
            session: Session = req.data
            if session.abandoned:
                self.wasted += 1
                reply(ERROR)
                return
            if len(self.sessions) >= self.config.connections:
                self.refused += 1
                reply(REJECTED)
                return
            self.sessions[session.user] = session
            session.server = self
            self.accepted += 1
            if len(self.sessions) > self.peak:
                self.peak = len(self.sessions)
        elif op == "disconnect":
            closing = getattr(req, "data", None)  # the connection closed, when the client names it
            if closing is not None and self.sessions.get(req.key) is not closing:
                reply(OK)  # a late close of an older connection: the client has a newer one here
                return
            self.sessions.pop(req.key, None)
        if self.handler is None:
            reply(OK)
        else:
            self.handler(self, req, reply)

    def crash(self) -> None:
        super().crash()
        dropped = list(self.sessions.values())
        self.sessions.clear()
        self.dropped += len(dropped)
        for listener in self.listeners:
            listener(self, dropped)

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        return super().stats(elapsed_s) | {
            "connections": len(self.sessions), "connections_max": self.peak, "capacity": self.config.connections,
            "accepted": self.accepted, "refused_connections": self.refused, "wasted_handshakes": self.wasted,
            "dropped_connections": self.dropped}

    def sample(self) -> dict[str, float]:
        return super().sample() | {"connections": float(len(self.sessions))}


class PresenceQuery:
    """A presence operation's payload: `set`/`clear` (user, server) or `get` (user -> `server` found)."""

    __slots__ = ("user", "server")

    def __init__(self, user: int, server: str | None = None) -> None:
        self.user = user
        self.server = server


class PresenceConfig(StationConfig):
    type: Literal["presence"] = "presence"
    ttl: PositiveDuration = Field(300.0, description="An entry not refreshed by a heartbeat for this long "
                                  "expires: the user is shown offline (the guide: 5 minutes).")
    workers: PositiveInt = Field(1, le=10_000, description="Operations at once (Redis: one thread).")
    op_time: DurationDist = distribution("exponential(mean=0.2ms)", "Work per get, set or clear.")
    persistent: bool = Field(False, description="Entries survive a crash (Redis with an append-only file); "
                             "default false: a crash forgets who is online.")


@registry.components.register("presence")
class PresenceCache(Station):
    """Presence cache (Redis-like): user -> the WebSocket server holding their connection, with a TTL
    refreshed by heartbeats. `set`, `clear` and `get` take a `PresenceQuery` as the request's data."""

    Config = PresenceConfig
    type_name = "presence"

    def __init__(self, env: Any, name: str, config: PresenceConfig) -> None:
        self.entries: dict[int, tuple[str, float]] = {}  # user -> (server, expires at on its clock)
        super().__init__(env, name, config)
        self.workers = config.workers
        self.capacity = config.queue_capacity
        self.timeout_s = config.timeout
        self.ttl = config.ttl
        self.draw_service = self.service_sampler(config.op_time, "op")

    def reset_stats(self) -> None:
        super().reset_stats()
        self.sets = self.gets = self.found = 0

    def online_server(self, user: int) -> str | None:
        """Where the cache says `user` is connected (None: shown offline or expired)."""
        entry = self.entries.get(user)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self.entries[user]  # lazy expiry, as Redis does on access
            return None
        return entry[0]

    def after_service(self, req: Request, reply: Reply, t_start: float) -> None:
        self.release()
        q: PresenceQuery = req.data
        op = req.op
        if op == "get":
            self.gets += 1
            q.server = self.online_server(q.user)
            self.found += q.server is not None
        elif op == "set":
            self.sets += 1
            self.entries[q.user] = (q.server, self.clock() + self.ttl)
        elif op == "clear":
            entry = self.entries.get(q.user)
            if entry is not None and entry[0] == q.server:  # not if the user has connected elsewhere since
                del self.entries[q.user]
        reply(OK)

    def crash(self) -> None:
        super().crash()
        if not self.config.persistent:
            self.entries.clear()

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        return super().stats(elapsed_s) | {"entries": len(self.entries), "sets": self.sets, "gets": self.gets,
                                           "found_ratio": self.found / self.gets if self.gets else None}


class Mail:
    """An offline-queue operation's payload: `enqueue` (user, items), `fetch` (user -> items),
    `ack` (user, ids of the items the device has)."""

    __slots__ = ("user", "items", "ids")

    def __init__(self, user: int, items: list | None = None, ids: frozenset | None = None) -> None:
        self.user = user
        self.items = items
        self.ids = ids


class OfflineQueueConfig(StationConfig):
    type: Literal["offline_queue"] = "offline_queue"
    partitions: PositiveInt = Field(8, le=10_000, description="Partitions, by user id (user mod partitions).")
    workers: PositiveInt = Field(4, le=10_000, description="Appends and fetches served at once (broker threads).")
    op_time: DurationDist = distribution("lognormal(mean=2ms, std=1ms)",
                                         "Work per enqueue, fetch or ack (a replicated append: the leader waits "
                                         "for its followers).")


@registry.components.register("offline_queue")
class OfflineQueue(Station):
    """Offline queue (Kafka-like, partitioned by user id): items (messages, receipts) waiting for a
    user who was not reachable; fetched on reconnect, removed when the device has them (acked).
    A replicated log: a crash makes it refuse calls while down, its items survive."""

    Config = OfflineQueueConfig
    type_name = "offline_queue"

    def __init__(self, env: Any, name: str, config: OfflineQueueConfig) -> None:
        self.pending: dict[int, list] = {}
        self.count = 0  # items pending, all users
        self.per_partition = [0] * config.partitions
        super().__init__(env, name, config)
        self.workers = config.workers
        self.capacity = config.queue_capacity
        self.timeout_s = config.timeout
        self.draw_service = self.service_sampler(config.op_time, "op")

    def reset_stats(self) -> None:
        super().reset_stats()
        self.enqueued = self.fetched = self.acked = 0

    def after_service(self, req: Request, reply: Reply, t_start: float) -> None:
        self.release()
        m: Mail = req.data
        op = req.op
        part = m.user % len(self.per_partition)
        if op == "enqueue":
            self.pending.setdefault(m.user, []).extend(m.items)
            self.count += len(m.items)
            self.per_partition[part] += len(m.items)
            self.enqueued += len(m.items)
        elif op == "fetch":
            m.items = list(self.pending.get(m.user, ()))
            self.fetched += len(m.items)
        elif op == "ack":
            items = self.pending.get(m.user)
            if items:
                keep = [it for it in items if it.id not in m.ids]
                gone = len(items) - len(keep)
                self.count -= gone
                self.per_partition[part] -= gone
                self.acked += gone
                if keep:
                    self.pending[m.user] = keep
                else:
                    del self.pending[m.user]
        reply(OK)

    def holds(self, user: int, item_id: int) -> bool:
        return any(it.id == item_id for it in self.pending.get(user, ()))

    def stats(self, elapsed_s: float) -> dict[str, Any]:
        return super().stats(elapsed_s) | {"backlog": self.count, "enqueued": self.enqueued,
                                           "fetched": self.fetched, "acked": self.acked}

    def sample(self) -> dict[str, float]:
        return super().sample() | {"backlog": float(self.count)}
