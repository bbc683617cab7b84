"""WhatsApp-like messaging: users who go online and offline, persistent WebSocket connections,
presence with heartbeats and a TTL, messages stored then delivered directly or queued for offline
users with a push notification, delivered and read receipts, group fan-out, reconnect storms.

Every step is a call over a link, made from where it happens in the real system:

    phone --connect--> load balancer --> WebSocket server (handshake; presence `set` from there)
    phone --send--> its WebSocket server: store `write` (conversation key), then per recipient:
        presence `get` -> online on server S: S --deliver--> the recipient's phone (a server-to-server
        `route` hop first when S is another server); not found, or not there (stale presence):
        offline queue `enqueue` (user key) and push service `notify` --push--> the phone
    phone (on connect or on a push) --fetch--> its server: offline queue `fetch` --> phone, then `ack`
    receipts (delivered, read) travel back to the sender the same way as messages.

The sender's "sent" tick comes after the store write and, with `ack_after: route` (the default),
after every recipient's copy is delivered or queued, so a server crash mid-route makes the phone
send again (a duplicate the recipient's phone drops, by message id): nothing is lost. With
`ack_after: store` the tick comes after the write alone and a crash mid-route loses the copies not
yet placed: `lost` counts them at the end of the run (not delivered, not queued).
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any, Iterator, Literal

from pydantic import Field, PositiveInt, model_validator

from models.apps.behaviour import AppConfig, Application, distribution
from models.apps.metrics import prefer_higher
from simulator.engine.request import ERROR, OK, REJECTED
from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.units import Duration, PositiveDuration
from simulator.sampling.distributions import DurationDist, NumberDist

from .infra import Mail, OfflineQueue, PresenceCache, PresenceQuery, Session, WebSocketServer

prefer_higher("messages_sent", "deliveries")

MSG, DELIVERED, READ = 0, 1, 2  # kinds of item: a message and its two receipts
_KIND = ("message", "delivered receipt", "read receipt")


class Item:
    """A message or a receipt, as the phones and servers pass it around (one object, shared)."""

    __slots__ = ("id", "kind", "sender", "conv", "to", "t0", "ref")

    def __init__(self, id: int, kind: int, sender: int, conv: int, to: tuple[int, ...], t0: float,
                 ref: int = -1) -> None:
        self.id, self.kind, self.sender, self.conv, self.to, self.t0, self.ref = id, kind, sender, conv, to, t0, ref


class DiurnalConfig(StrictModel):
    """Time of day: users come back sooner near the peak (absences divided by the factor)."""

    amplitude: float = Field(0.3, ge=0, lt=1, description="Relative swing of the rate of coming online: "
                             "factor = 1 + amplitude x cos(2 pi (time of day - peak) / period).")
    period: PositiveDuration = Field(86400.0, description="Length of a day.")
    peak: Duration = Field(75600.0, description="Time of day of the peak, as a duration since midnight (21h).")
    start: Duration = Field(64800.0, description="Time of day at the start of the run, as a duration since "
                            "midnight (18h).")


class ReconnectConfig(StrictModel):
    """How a phone reconnects after losing its connection or failing to connect."""

    delay: PositiveDuration = Field(5.0, description="First wait before reconnecting; doubled at each failed "
                                    "attempt (exponential backoff).")
    max_delay: PositiveDuration = Field(60.0, description="Longest wait between two attempts.")
    jitter: Literal["none", "full"] = Field("full", description="none: wait exactly the backoff (every phone "
                                            "dropped at once comes back at once: a reconnect storm); full: a "
                                            "uniform draw between 0 and the backoff (AWS's 'full jitter').")
    timeout: PositiveDuration = Field(3.0, description="A connect not accepted within this is given up (and "
                                      "tried again after the backoff); the server may still do the handshake.")

    @model_validator(mode="after")
    def _order(self) -> "ReconnectConfig":
        if self.max_delay < self.delay:
            raise ValueError(f"max_delay ({self.max_delay:g}s) is shorter than delay ({self.delay:g}s)")
        return self


@registry.components.register("whatsapp")
class WhatsApp(Application):
    """Messaging (WhatsApp-like): users online and offline over WebSocket connections, presence with
    a TTL, stored messages delivered directly or queued with a push, receipts, groups."""

    type_name = "whatsapp"
    _t_reset = 0.0  # when the measured window began (the end of the warm-up): rates divide by its length

    class Config(AppConfig):
        type: Literal["whatsapp"] = "whatsapp"
        users: PositiveInt = Field(20_000, le=1_000_000, description="Users simulated (the slice `scale` of the "
                                   "real user base).")
        lb: str = Field(description="The load balancer phones connect through; its backends must be `websocket` "
                        "servers.")
        presence: str = Field(description="The `presence` cache (online status, TTL).")
        store: str = Field(description="The message store (Cassandra-like: any store; the key is the "
                           "conversation, the operation `write`).")
        offline_queue: str = Field(description="The `offline_queue` holding items for unreachable users.")
        push: str = Field(description="The push-notification service (APNs/FCM: a server); its link to this "
                          "application's zone is the push's delivery delay.")
        session: DurationDist = distribution("exponential(mean=120s)", "How long a user stays online (app in "
                                             "the foreground, connected).")
        absence: DurationDist = distribution("exponential(mean=2400s)", "How long a user stays offline between "
                                             "two sessions (before the diurnal factor).")
        diurnal: DiurnalConfig | None = Field(default_factory=DiurnalConfig, description="Time-of-day "
                                              "variation of absences (null: none).")
        think_time: DurationDist = distribution("exponential(mean=60s)", "Time between two messages a user sends "
                                                "while online.")
        group_share: float = Field(0.2, ge=0, le=1, description="Share of messages sent to a group the sender "
                                   "belongs to (when in one).")
        groups: int = Field(1000, ge=0, le=1_000_000, description="Group chats among the simulated users.")
        group_size: NumberDist = distribution("uniform(min=3, max=20)", "Members of a group (sender included).",
                                              kind="number")
        heartbeat: PositiveDuration = Field(60.0, description="Interval of a connected phone's heartbeats (an "
                                            "application-level ping its server answers), each refreshing its "
                                            "presence entry.")
        heartbeat_timeout: PositiveDuration = Field(10.0, description="A heartbeat not answered within this is "
                                                    "missed (a cut link fails it sooner, at the network timeout).")
        heartbeat_misses: PositiveInt = Field(2, le=1000, description="Consecutive missed heartbeats after which "
                                              "the phone declares its connection dead, closes it and reconnects "
                                              "with the backoff (detects a partition, not only a crash).")
        read_delay: DurationDist = distribution("exponential(mean=5s)", "From a message's delivery to its "
                                                "reading, if the user is still online (else at the next session).")
        detect_delay: DurationDist = distribution("uniform(min=0.5s, max=1.5s)", "Time a phone takes to notice "
                                                  "its connection was dropped by a crashed server.")
        reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig, description="Backoff and jitter of "
                                           "reconnections.")
        send_timeout: PositiveDuration = Field(10.0, description="A phone sends a message again when the server "
                                               "has not acknowledged it within this.")
        retry_delay: PositiveDuration = Field(1.0, description="A server retries a failed enqueue to the offline "
                                              "queue after this.")
        ack_after: Literal["route", "store"] = Field("route", description="When the sender gets its 'sent' tick: "
                                                     "after every recipient's copy is delivered or queued (route: "
                                                     "nothing is lost), or after the store write (store: a server "
                                                     "crash mid-route loses copies, counted in `lost`).")
        server_connections: PositiveInt = Field(1_000_000, description="Connections one production WebSocket "
                                                "server holds (for the extrapolation).")

        def refs(self):
            return [(("lb",), self.lb), (("presence",), self.presence), (("store",), self.store),
                    (("offline_queue",), self.offline_queue), (("push",), self.push)]

        def cross_check(self, name: str, sc: Any) -> list[tuple[tuple, str]]:
            """The components named are of the types the chat logic needs."""
            comps = sc.components
            out: list[tuple[tuple, str]] = []
            lb = comps.get(self.lb)
            if lb is not None and (lb.type != "load_balancer" or any(
                    getattr(comps.get(b), "type", None) != "websocket" for b in lb.backends)):
                out.append((("components", name, "lb"), f"'{self.lb}' must be a load_balancer whose backends are websocket servers"))
            for key in ("presence", "offline_queue"):
                c = comps.get(getattr(self, key))
                if c is not None and c.type != key:
                    article = "an" if key[0] in "aeiou" else "a"
                    out.append((("components", name, key), f"'{getattr(self, key)}' is of type {c.type}; expected {article} {key} "
                                        "component"))
            return out

    # --- build -----------------------------------------------------------------------------------
    def connect(self, system: Any) -> None:
        cfg = self.config
        # (their types were checked when the scenario loaded: Config.cross_check)
        servers = [system.get(b) for b in system.get(cfg.lb).config.backends]
        self.servers = servers
        self.presence_cache: PresenceCache = system.get(cfg.presence)
        self.inbox: OfflineQueue = system.get(cfg.offline_queue)
        self.connect_call = self.caller(system, cfg.lb, op="connect")
        # Per server: the phone's calls to it, and its own calls (from it: a partition or crash of the
        # server cuts exactly those).
        self.up = {s.name: self.caller(system, s, op="send") for s in servers}
        self.store = {s.name: self.caller(system, cfg.store, src=s, op="write") for s in servers}
        self.pres = {s.name: self.caller(system, cfg.presence, src=s, op="get") for s in servers}
        self.queue = {s.name: self.caller(system, cfg.offline_queue, src=s, op="enqueue") for s in servers}
        self.notify = {s.name: self.caller(system, cfg.push, src=s, op="notify") for s in servers}
        self.to_phone_call = {s.name: self.caller(system, self, src=s, op="deliver") for s in servers}
        self.hop = {(a.name, b.name): self.caller(system, b, src=a, op="route")
                    for a in servers for b in servers if a is not b}
        self.push_call = self.caller(system, self, src=cfg.push, op="push")
        for s in servers:
            s.handler = self.on_server
            s.listeners.append(self.dropped)

        n = cfg.users
        self.conn: list[WebSocketServer | None] = [None] * n  # the server each phone is connected to
        self.conn_serial = [0] * n  # which connection (heartbeats stop with theirs)
        self.missed = [0] * n  # consecutive heartbeats of the current connection not answered
        self.refetch = [False] * n
        self.want = [False] * n  # in a session (wants to be connected)
        self.connecting = [False] * n
        self.flushing = [False] * n
        self.fetching = [False] * n
        self.outbox: dict[int, deque] = {}
        self.seen: list[set | None] = [None] * n  # ids of the items each phone has received
        self.unread: dict[int, list] = {}
        self.lost_since: dict[int, float] = {}  # user -> when their connection dropped (reconnect time)
        self.next_id = 0
        self.undelivered = 0  # copies of stored messages not yet on their recipient's phone
        self.stored: set[int] = set()
        self.at_risk: list[tuple[int, int]] = []  # (item id, user) whose route a crash cut after the tick
        self.online = 0

        m = self.metrics
        self.deliver_s = m.observe("deliver_s", "send -> deliver, receiver online and found by presence")
        self.offline_s = m.observe("offline_delivery_s", "send -> deliver through the offline queue (receiver "
                                   "offline, or not found online)")
        self.receipt_s = m.observe("receipt_s", "a receipt's emission -> the sender's phone")
        self.sent_s = m.observe("sent_tick_s", "send -> the server's 'sent' acknowledgement")
        self.reconnect_s = m.observe("reconnect_s", "a connection dropped by a crash -> connected again")
        self.sent = m.counter("messages_sent", "messages acknowledged to their sender")
        self.delivered = m.counter("deliveries", "message copies delivered to a recipient's phone (once each)")
        self.dups = m.counter("duplicates_dropped", "copies a phone had already (resends, re-fetches): dropped")
        self.pushes = m.counter("pushes", "push notifications sent")
        self.stale = m.counter("stale_lookups", "presence said online on a server that no longer had the user")
        self.pfail = m.counter("presence_failures", "presence lookups that failed (sent to the offline queue)")
        self.refused = m.counter("connects_failed", "connect attempts refused, failed or timed out")
        self.dead = m.counter("dead_connections", "connections a phone closed after `heartbeat_misses` missed "
                              "heartbeats (then reconnected)")
        self.m_online = m.gauge("online", lambda: self.online, "phones connected", "users")
        m.gauge("undelivered", lambda: self.undelivered, "stored message copies not yet delivered", "messages")
        m.gauge("offline_backlog", lambda: self.inbox.count, "items in the offline queue", "items")
        m.gauge("presence_stale", self.shown_online_not_connected, "users shown online who are not connected "
                "there", "users")
        m.gauge("presence_missing", self.connected_not_shown, "connected users shown offline", "users")
        m.gauges("backlog_by_partition", [f"p{i}" for i in range(len(self.inbox.per_partition))],
                 lambda: list(self.inbox.per_partition), "items in each partition of the offline queue", "items")
        self.m_conns = m.gauges("connections", [s.name for s in servers], lambda: [len(s.sessions) for s in servers],
                                "connections per WebSocket server", "connections")
        m.value("lost", self.count_lost, "message copies acknowledged to the sender but neither delivered nor "
                "queued (possible only with ack_after: store and a server crash)")
        m.value("deliver_p99_s", lambda: self._p(self.deliver_s, 99), "p99 of deliver_s (s), for studies")
        m.value("reconnect_p99_s", lambda: self._p(self.reconnect_s, 99), "p99 of reconnect_s (s), for studies")
        m.value("wasted_handshakes", lambda: sum(s.wasted for s in self.servers), "handshakes done for phones "
                "that had given up (the storm's waste)")

    @staticmethod
    def _p(obs: Any, q: float) -> float | None:
        s = obs.summary()
        return s.get(f"p{q}")

    # --- users -----------------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config
        self.d_session = self.sampler("session", cfg.session)
        self.d_absence = self.sampler("absence", cfg.absence)
        self.d_think = self.sampler("think", cfg.think_time)
        self.d_read = self.sampler("read", cfg.read_delay)
        self.d_detect = self.sampler("detect", cfg.detect_delay)
        self.rng_choice = self.stream("choices")
        self.rng_jitter = self.stream("jitter")
        groups_rng = self.stream("groups")
        sizes = self.sampler("group_size", cfg.group_size)
        n = cfg.users
        self.groups: list[tuple[int, ...]] = []
        self.member_of: dict[int, list[int]] = {}
        for g in range(cfg.groups):
            k = min(n, max(2, int(round(sizes()))))
            members = tuple(int(x) for x in groups_rng.choice(n, size=k, replace=False))
            self.groups.append(members)
            for u in members:
                self.member_of.setdefault(u, []).append(g)
        # Start in the steady state: online with probability session / (session + absence).
        p_on = cfg.session.mean / (cfg.session.mean + cfg.absence.mean)
        start_rng = self.stream("start")
        for u in range(n):
            self.spawn(self.user(u, start_rng.random() < p_on, start_rng.random()))

    def day_factor(self) -> float:
        d = self.config.diurnal
        if d is None:
            return 1.0
        t = d.start + self.now
        return 1.0 + d.amplitude * math.cos(2 * math.pi * (t - d.peak) / d.period)

    def user(self, u: int, online: bool, phase: float) -> Iterator:
        if online:  # already in a session (its connects spread over the first 20 s)
            yield self.sleep(20.0 * phase)
        else:  # the rest of an absence (a fresh draw: exact for the exponential, which has no memory)
            yield self.sleep(self.d_absence() / self.day_factor())
        while True:
            self.want[u] = True
            end = self.now + self.d_session()
            self.start_dial(u)
            while True:
                t = self.d_think()
                if self.now + t >= end:
                    yield self.sleep(end - self.now)
                    break
                yield self.sleep(t)
                self.compose(u)
            self.want[u] = False
            self.lost_since.pop(u, None)  # gave up reconnecting: not a reconnection time
            self.leave(u)
            yield self.sleep(self.d_absence() / self.day_factor())

    def compose(self, u: int) -> None:
        """The user writes a message: to a group they are in, or to one other user."""
        cfg = self.config
        rng = self.rng_choice
        mine = self.member_of.get(u)
        if mine and rng.random() < cfg.group_share:
            g = mine[int(rng.integers(len(mine)))]
            to = tuple(m for m in self.groups[g] if m != u)
            conv = cfg.users * cfg.users + g  # a group's conversation key (after every pair's)
        else:
            v = int(rng.integers(cfg.users - 1))
            v += v >= u
            to = (v,)
            conv = min(u, v) * cfg.users + max(u, v)  # a one-to-one conversation's key
        self.send_item(Item(self.new_id(), MSG, u, conv, to, self.now))

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def send_item(self, item: Item) -> None:
        """Into the phone's outbox; sent now if connected, else after the next connect."""
        u = item.sender
        box = self.outbox.get(u)
        if box is None:
            box = self.outbox[u] = deque()
        box.append(item)
        if self.conn[u] is not None:
            self.start_flush(u)

    # One process at a time per phone for each of these (the flag is set before the process starts).
    def start_flush(self, u: int) -> None:
        if not self.flushing[u]:
            self.flushing[u] = True
            self.spawn(self.flush(u))

    def start_fetch(self, u: int) -> None:
        if not self.fetching[u] and self.conn[u] is not None:
            self.fetching[u] = True
            self.spawn(self.fetch(u))

    def start_dial(self, u: int, first_wait: float = 0.0) -> None:
        if not self.connecting[u] and self.conn[u] is None:
            self.connecting[u] = True
            self.spawn(self.dial(u, first_wait))

    def flush(self, u: int) -> Iterator:
        """Send the outbox in order over the connection, each until the server acknowledges it."""
        box = self.outbox[u]
        while box and self.conn[u] is not None:
            item = box[0]
            server = self.conn[u]
            op = "send" if item.kind == MSG else "receipt"
            row = self.begin(op, key=item.conv, user=u)
            outcome = yield self.up[server.name](op=op, key=item.conv, data=item, req=row,
                                                 timeout=self.config.send_timeout)
            self.finish(row, outcome)
            if outcome == OK:
                box.popleft()
                if item.kind == MSG:
                    self.sent.add()
                    self.sent_s.add(self.now - item.t0)
            elif self.conn[u] is server:  # still connected: the server is slow or failing; try again soon
                yield self.sleep(self.config.retry_delay)
        self.flushing[u] = False

    # --- connections -----------------------------------------------------------------------------
    def backoff(self, attempt: int) -> float:
        rc = self.config.reconnect
        wait = min(rc.max_delay, rc.delay * 2.0 ** attempt)
        return wait * self.rng_jitter.random() if rc.jitter == "full" else wait

    def dial(self, u: int, first_wait: float = 0.0) -> Iterator:
        """Connect through the load balancer, with backoff, while the user wants to be online."""
        if first_wait:
            yield self.sleep(first_wait)
        attempt = 0
        while self.want[u] and self.conn[u] is None:
            session = Session(u)
            row = self.begin("connect", user=u)
            outcome = yield self.connect_call(op="connect", key=u, data=session, req=row,
                                              timeout=self.config.reconnect.timeout)
            self.finish(row, outcome)
            server = session.server
            if outcome == OK and server is not None and server.sessions.get(u) is session:
                if self.want[u]:
                    self.connected(u, server)
                else:  # the session ended while connecting: close it
                    self.up[server.name].notify(op="disconnect", key=u)
                break
            session.abandoned = True  # a handshake still queued at the server is wasted
            if server is not None and server.sessions.get(u) is session:  # accepted too late: close it
                self.up[server.name].notify(op="disconnect", key=u)
            self.refused.add()
            yield self.sleep(self.backoff(attempt))
            attempt += 1
        self.connecting[u] = False

    def connected(self, u: int, server: WebSocketServer) -> None:
        self.conn[u] = server
        serial = self.conn_serial[u] = self.new_id()
        self.online += 1
        self.missed[u] = 0
        t = self.lost_since.pop(u, None)
        if t is not None:
            self.reconnect_s.add(self.now - t)
        self.after(self.config.heartbeat, lambda: self.beat(u, serial))
        self.start_fetch(u)
        if self.outbox.get(u):
            self.start_flush(u)
        unread = self.unread.pop(u, None)
        if unread:
            for item in unread:
                self.after(self.d_read(), lambda it=item: self.read(u, it))

    def beat(self, u: int, serial: int) -> None:
        server = self.conn[u]
        if server is not None and self.conn_serial[u] == serial:  # the same connection still
            # A ping the server answers (WebSocket clients' keep-alive): the phone's only way to learn that
            # a connection whose server did not crash (a partition, a lost route) is dead.
            ev = self.up[server.name](op="heartbeat", key=u, timeout=self.config.heartbeat_timeout)
            ev.callbacks.append(lambda e: self.pong(u, serial, e.value))
            self.after(self.config.heartbeat, lambda: self.beat(u, serial))

    def pong(self, u: int, serial: int, outcome: int) -> None:
        """A heartbeat's answer (or its timeout): `heartbeat_misses` missed in a row -> the connection is dead."""
        if self.conn_serial[u] != serial or self.conn[u] is None:
            return  # that connection is gone already
        if outcome == OK:
            self.missed[u] = 0
            return
        self.missed[u] += 1
        if self.missed[u] >= self.config.heartbeat_misses:
            server = self.conn[u]
            self.conn[u] = None
            self.online -= 1
            self.dead.add()
            # The close reaches the server only if the link works again; it names this connection, so a
            # late one does not close a newer connection to the same server.
            self.up[server.name].notify(op="disconnect", key=u, data=server.sessions.get(u))
            self.lost_since[u] = self.now  # reconnect_s from the detection (the phone's first knowledge)
            self.start_dial(u, self.backoff(0))

    def leave(self, u: int) -> None:
        """The session ends: the phone closes its connection (the server clears its presence)."""
        server = self.conn[u]
        if server is not None:
            self.conn[u] = None
            self.online -= 1
            self.up[server.name].notify(op="disconnect", key=u)

    def dropped(self, server: WebSocketServer, sessions: list[Session]) -> None:
        """A server crashed: its phones notice after `detect_delay` and reconnect with backoff."""
        for s in sessions:
            u = s.user
            if self.conn[u] is server:
                self.conn[u] = None
                self.online -= 1
                self.lost_since[u] = self.now
                wait = self.d_detect() + self.backoff(0)
                self.start_dial(u, wait)

    def fetch(self, u: int) -> Iterator:
        server = self.conn[u]
        self.refetch[u] = True
        while self.refetch[u] and self.conn[u] is server:
            self.refetch[u] = False  # a push arriving meanwhile sets it again: fetch once more
            row = self.begin("fetch", key=u, user=u)
            outcome = yield self.up[server.name](op="fetch", key=u, req=row, timeout=self.config.send_timeout)
            self.finish(row, outcome)
        self.fetching[u] = False

    # --- on the servers --------------------------------------------------------------------------
    def on_server(self, server: WebSocketServer, req: Any, reply: Any) -> None:
        """The chat logic, run on `server` after its own work on a call."""
        op = req.op
        if op in ("send", "receipt"):
            self.spawn(self.route_send(server, req, reply))
        elif op == "route":
            self.spawn(self.deliver_here(server, req, reply))
        elif op == "fetch":
            self.spawn(self.serve_fetch(server, req, reply))
        else:
            if op in ("connect", "heartbeat"):
                self.pres[server.name].notify(op="set", data=PresenceQuery(req.key if op == "heartbeat" else
                                                                           req.data.user, server.name))
            elif op == "disconnect":
                self.pres[server.name].notify(op="clear", data=PresenceQuery(req.key, server.name))
            reply(OK)

    def route_send(self, server: WebSocketServer, req: Any, reply: Any) -> Iterator:
        item: Item = req.data
        epoch = server.epoch
        if item.kind == MSG:
            outcome = yield self.store[server.name](op="write", key=item.conv, req=req)
            if server.epoch != epoch:
                return  # the server crashed: nobody answers, the phone's timeout resends
            if outcome != OK:
                reply(ERROR)
                return
            if item.id not in self.stored:
                self.stored.add(item.id)
                self.undelivered += len(item.to)
        early = self.config.ack_after == "store" and item.kind == MSG
        if early:
            reply(OK)
        routes = [self.spawn(self.route_one(server, epoch, item, r, req, early)) for r in item.to]
        done = yield self.env.all_of(routes)
        if server.epoch == epoch and not early:
            reply(OK if all(done[p] for p in routes) else ERROR)

    def route_one(self, server: WebSocketServer, epoch: int, item: Item, r: int, req: Any,
                  acked: bool) -> Iterator:
        """Deliver one copy: directly where presence says the user is, else queue it and push."""
        placed = False
        try:
            q = PresenceQuery(r)
            outcome = yield self.pres[server.name](op="get", data=q, req=req)
            if server.epoch != epoch:
                return False
            if outcome != OK:
                self.pfail.add()
            elif q.server is not None:
                if q.server == server.name:
                    outcome = yield from self.to_phone(server, item, r, req)
                else:
                    outcome = yield self.hop[server.name, q.server](op="route", key=r, data=(item, r), req=req)
                if server.epoch != epoch:
                    return False
                if outcome == OK:
                    placed = True
                    return True
                if outcome == REJECTED:
                    self.stale.add()
            while True:  # offline path: queue it (retried until stored), then a push
                outcome = yield self.queue[server.name](op="enqueue", key=r, data=Mail(r, [item]), req=req)
                if server.epoch != epoch:
                    return False
                if outcome == OK:
                    break
                yield self.sleep(self.config.retry_delay)
                if server.epoch != epoch:
                    return False
            placed = True
            self.pushes.add()
            self.notify[server.name].notify(op="notify", key=r,
                                            done=lambda o: o == OK and self.push_call.notify(op="push", key=r))
            return True
        finally:
            if acked and not placed:
                self.at_risk.append((item.id, r))

    def to_phone(self, server: WebSocketServer, item: Item, r: int, req: Any) -> Iterator:
        if server.sessions.get(r) is None:
            return REJECTED  # not connected here (stale presence)
        outcome = yield self.to_phone_call[server.name](op="deliver", key=r, data=([item], r, server), req=req)
        return outcome

    def deliver_here(self, server: WebSocketServer, req: Any, reply: Any) -> Iterator:
        item, r = req.data
        epoch = server.epoch
        outcome = yield from self.to_phone(server, item, r, req)
        if server.epoch == epoch:
            reply(outcome)

    def serve_fetch(self, server: WebSocketServer, req: Any, reply: Any) -> Iterator:
        u = req.key
        epoch = server.epoch
        mail = Mail(u)
        outcome = yield self.queue[server.name](op="fetch", key=u, data=mail, req=req)
        if server.epoch != epoch:
            return
        if outcome == OK and mail.items:
            outcome = yield self.to_phone_call[server.name](op="fetched", key=u, data=(mail.items, u, server), req=req)
            if server.epoch != epoch:
                return
            if outcome == OK:  # the phone has them: remove them from the queue
                self.queue[server.name].notify(op="ack", key=u, data=Mail(u, ids=frozenset(i.id for i in mail.items)))
        reply(outcome)

    # --- on the phones ---------------------------------------------------------------------------
    def on_deliver(self, req: Any) -> int:
        items, u, server = req.data
        if self.conn[u] is not server:
            return REJECTED  # the connection is gone: the server queues it instead
        self.receive(u, items, direct=True)
        return OK

    def on_fetched(self, req: Any) -> int:
        items, u, server = req.data
        if self.conn[u] is not server:
            return ERROR  # not acked: fetched again at the next connect
        self.receive(u, items, direct=False)
        return OK

    def on_push(self, req: Any) -> int:
        """A push notification reached the phone: if connected, it fetches (the queue holds items)."""
        u = req.key
        if self.conn[u] is not None:
            if self.fetching[u]:
                self.refetch[u] = True
            else:
                self.start_fetch(u)
        return OK

    def receive(self, u: int, items: list, direct: bool) -> None:
        seen = self.seen[u]
        if seen is None:
            seen = self.seen[u] = set()
        now = self.now
        for item in items:
            if item.id in seen:
                self.dups.add()
                continue
            seen.add(item.id)
            if item.kind == MSG:
                self.delivered.add()
                self.undelivered -= 1
                (self.deliver_s if direct else self.offline_s).add(now - item.t0)
                self.send_item(Item(self.new_id(), DELIVERED, u, item.conv, (item.sender,), now, item.id))
                self.after(self.d_read(), lambda it=item: self.read(u, it))
            else:
                self.receipt_s.add(now - item.t0)

    def read(self, u: int, item: Item) -> None:
        if self.conn[u] is None:
            self.unread.setdefault(u, []).append(item)
        else:
            self.send_item(Item(self.new_id(), READ, u, item.conv, (item.sender,), self.now, item.id))

    # --- figures ---------------------------------------------------------------------------------
    def shown_online_not_connected(self) -> int:
        now = self.presence_cache.clock()
        conn = self.conn
        n = 0
        for u, (srv, exp) in self.presence_cache.entries.items():
            if exp > now and (conn[u] is None or conn[u].name != srv):
                n += 1
        return n

    def connected_not_shown(self) -> int:
        now = self.presence_cache.clock()
        entries = self.presence_cache.entries
        n = 0
        for u, s in enumerate(self.conn):
            if s is not None:
                e = entries.get(u)
                if e is None or e[1] <= now or e[0] != s.name:
                    n += 1
        return n

    def count_lost(self) -> int:
        lost = 0
        for item_id, u in self.at_risk:
            seen = self.seen[u]
            if (seen is None or item_id not in seen) and not self.inbox.holds(u, item_id):
                lost += 1
        return lost

    def extrapolate(self) -> list[str]:
        cfg = self.config
        seen = self.m_online.seen
        peak = max(seen) if seen else self.online
        full_peak = self.full(peak)
        per_server = max((max(col) for col in zip(*self.m_conns.seen)), default=0) if self.m_conns.seen else 0
        elapsed = max(self.now - self._t_reset, 1e-9)
        rate = self.full(self.sent.n / elapsed)
        servers = math.ceil(full_peak / cfg.server_connections)
        lines = [f"{self.full(cfg.users):,.0f} users, {full_peak:,.0f} online at the peak of this run",
                 f"at {cfg.server_connections:,} connections per server: ~{servers:,} WebSocket servers (no headroom)"]
        if per_server:
            lines.append(f"at this run's peak load per server ({per_server:,.0f} connections): "
                         f"~{math.ceil(full_peak / per_server):,} WebSocket servers")
        lines += [f"{rate:,.0f} messages/s, each a store write ({rate * 86400 / 1e9:,.1f} billion a day at this "
                  f"rate; the guide: ~100 billion a day, over a whole day)",
                  f"{self.full(self.pushes.n / elapsed):,.0f} push notifications/s; "
                  f"{self.full(self.inbox.count):,.0f} items waiting in offline queues at the end"]
        return lines

    def reset_stats(self) -> None:
        super().reset_stats()
        self._t_reset = self.env.now
        self.at_risk = []
