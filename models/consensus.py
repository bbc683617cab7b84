"""`mode: consensus` of a `replicated` store: a Raft-like replicated log (CP).

Built only for a store in mode consensus; no other store touches this module at run time.

Every replica is a Raft node (Ongaro & Ousterhout, "In Search of an Understandable Consensus
Algorithm", 2014). The exact rules are in docs/data-tier.md, "Consensus"; in short:

- **Terms and elections.** A follower that hears nothing from a leader for its election timeout
  (drawn uniformly from `election_timeout: [min, max]` each time it becomes a follower or a
  candidate, from its own random stream) starts an election: next term, votes for itself, sends
  RequestVote to every other replica. A replica grants one vote per term, only to a candidate
  whose log is at least as up to date as its own (last term, then last index). A majority of votes
  makes a leader; a term with two or more candidates and no leader is a split vote.
- **Leader stickiness.** A replica that heard from a leader less than `min` ago (or restarted less
  than `min` ago), and a leader whose lease is valid, ignore RequestVote (Raft thesis 4.2.3, etcd's
  check-quorum): so a leader's lease is safe (below) and a node returning from a partition cannot
  depose a healthy leader.
- **Messages.** RequestVote, AppendEntries (heartbeats every `heartbeat` and the leader's new
  entries) and their answers cross the network links between replicas, through per-replica ports
  (`_Port`: the replica's name and zone, down or paused exactly when it is), so crashes, pauses,
  partitions, latency and loss act on them. Client calls cross the client's own links to them.
- **Commit.** A write is appended to the leader's log and sent at once to every follower
  (pipelined; a follower that rejects an append tells the leader where its log diverges); it is
  committed when a majority holds it and it is of the leader's term (or precedes one that is).
  Every replica applies committed entries, in log order, to its database through the same
  `VersionedWrite` path as the other modes; the client is answered once the leader applied it.
- **Lease and step-down.** A heartbeat round acknowledged by a majority extends the leader's lease
  to the round's send time + `lease` (<= `min`, default `min`). A leader that goes `lease` without
  a majority-acknowledged round steps down: on the minority side of a partition it stops taking
  writes and reads.
- **Reads** are linearizable: `reads: read_index` (default) records the commit index, confirms
  leadership with a heartbeat round a majority acknowledges, waits until that index is applied and
  reads the leader's database; `reads: lease` reads at once while the lease is valid (falling back
  to read_index otherwise). A new leader serves reads only after committing an entry of its term.
- **Outcomes.** A write or read refused before the leader appended it (the replica is not the
  leader, or no leader is known) is `rejected`: it certainly did not take effect (Jepsen `fail`).
  A refusal that names the leader is followed once per replica by the client library (a redirect).
  A write appended but not committed when its leader stepped down or crashed is `error` (it may
  still commit later: Jepsen `info`); a lost message is `timed_out` (also `info`).
  With `unavailable: wait` a replica that knows no leader holds calls until it learns of one
  (redirecting them) or leads itself; the client's own timeout bounds the wait.
- **Crashes.** Term, vote, log and commit index survive a crash (persistent state, as etcd's
  HardState); role and leader knowledge do not: a replica comes back as a follower.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Literal

from pydantic import Field, model_validator

from simulator.engine.request import (CAUSE_CRASHED, CAUSE_LEADER_LOST, CAUSE_NO_LEADER, ERROR, OK, REJECTED, TIMED_OUT,
                                      Reply, Request, note_failure)
from simulator.language import registry
from simulator.language.config import StrictModel
from simulator.language.units import PositiveDuration

from .endpoint import Endpoint
from .replication_modes import ReplicationMode
from .versions import VersionedWrite, percentiles

_EPS = 1e-9
FOLLOWER, CANDIDATE, LEADER = 0, 1, 2
MAX_ENTRIES = 4096  # entries per AppendEntries message (a catching-up follower gets the rest next)
MAX_EVENTS = 200  # election/leader events kept for the charts (a flapping cluster stays readable)


class ConsensusConfig(StrictModel):
    """`consensus:` of a replicated store in mode consensus."""

    election_timeout: tuple[PositiveDuration, PositiveDuration] = Field(
        (0.15, 0.3), description="[min, max]: a follower's election timeout is drawn uniformly from this range, "
                                 "anew each time it becomes a follower or candidate ([x, x]: no randomness).")
    heartbeat: PositiveDuration = Field(0.05, description="The leader's AppendEntries round to every follower (less than the timeout min).")
    lease: PositiveDuration | None = Field(
        None, description="A leader without a majority-acknowledged heartbeat round for this long steps down; "
                          "lease reads are valid this long after a round's send time (default and maximum: "
                          "the election timeout min).")
    reads: Literal["read_index", "lease"] = Field(
        "read_index", description="Linearizable reads: read_index (confirm leadership with a heartbeat round "
                                  "per batch of reads) or lease (read at once while the leader's lease is valid).")
    pre_vote: bool = Field(
        True, description="A follower whose timeout expires first asks whether a majority would vote for it "
                          "(without raising its term); only then does it start the election (Raft thesis 9.6): "
                          "a replica cut off from the majority does not inflate its term and depose the leader "
                          "when it returns.")
    unavailable: Literal["fail", "wait"] = Field(
        "fail", description="A call reaching a replica that knows no leader (an election): refused at once "
                            "(rejected), or held until a leader is known (bounded by the client's timeout).")

    @model_validator(mode="after")
    def _consistent(self) -> "ConsensusConfig":
        lo, hi = self.election_timeout
        if hi < lo:
            raise ValueError(f"election_timeout [{lo:g}s, {hi:g}s]: the max is below the min")
        if self.heartbeat >= lo:
            raise ValueError(f"heartbeat ({self.heartbeat:g}s) must be shorter than the election timeout min ({lo:g}s)")
        if self.lease is not None and self.lease > lo:
            raise ValueError(f"lease ({self.lease:g}s) must not exceed the election timeout min ({lo:g}s): "
                             "a newer leader could be elected while the old one still reads under its lease")
        return self


class _Vote(Request):
    """RequestVote and, filled in by the receiver, its answer."""

    __slots__ = ("term", "src", "dest", "last_index", "last_term", "resp_term", "granted", "pre")


class _Append(Request):
    """AppendEntries (a heartbeat when `entries` is empty) and its answer."""

    __slots__ = ("term", "src", "dest", "prev_index", "prev_term", "entries", "commit", "round",
                 "resp_term", "success", "match", "hint")


class _Round:
    """One heartbeat round: acknowledgements so far (the leader counts itself) and the reads it confirms."""

    __slots__ = ("term", "sent_at", "acks", "reads", "read_index", "done")

    def __init__(self, term: int, sent_at: float, reads: list, read_index: int) -> None:
        self.term, self.sent_at, self.acks, self.reads, self.read_index, self.done = term, sent_at, 1, reads, read_index, False


class _Port(Endpoint):
    """Replica `index` as a consensus message or a client call reaches it: a link end with the
    replica's name and zone (every fault reaching the replica reaches it), down or paused exactly
    when the replica is (a paused replica's messages wait, then arrive)."""

    __slots__ = ("raft", "index")

    def __init__(self, raft: "Consensus", index: int) -> None:
        super().__init__(raft.router.members[index])
        self.raft, self.index = raft, index

    def handle(self, req: Request, reply: Reply) -> None:
        raft = self.raft
        kind = type(req)
        if kind is _Append:
            raft.on_append(self.index, req, reply)
        elif kind is _Vote:
            raft.on_vote(self.index, req, reply)
        else:
            raft.on_client(self.index, req, reply)


class _Call:
    """A client call in flight: the client library's reply, which follows one redirect per replica."""

    __slots__ = ("raft", "proxy", "sub", "reply", "tried", "hint", "is_write", "at")

    def __init__(self, raft: "Consensus", proxy: Any, sub: Request, reply: Reply, is_write: bool) -> None:
        self.raft, self.proxy, self.sub, self.reply, self.is_write = raft, proxy, sub, reply, is_write
        self.tried = 0
        self.at = 0
        self.hint: int | None = None

    def __call__(self, outcome: int) -> None:
        raft = self.raft
        hint = self.hint
        if outcome == REJECTED and hint is not None and self.tried < raft.n:
            raft.views[id(self.proxy)] = hint  # the client library follows the redirect
            self.hint = None
            raft.send_call(self, hint)
            return
        if outcome == ERROR or outcome == TIMED_OUT:
            # No answer: the client library tries the next replica next time (as etcd's client
            # balancer does); this call is not retried, it may have taken effect. A replica that
            # answers "no leader known" stays its choice: it will name the leader once it knows.
            view = raft.views.get(id(self.proxy))
            if view == self.at:
                raft.views[id(self.proxy)] = (view + 1) % raft.n
        self.reply(outcome)


class _Reply:
    """The answer to a consensus message: hands it back to the sender's handler."""

    __slots__ = ("fn", "msg")

    def __init__(self, fn: Any, msg: Request) -> None:
        self.fn, self.msg = fn, msg

    def __call__(self, outcome: int) -> None:
        self.fn(self.msg, outcome)


class _Applied:
    """A replica's database answered the application of one log entry."""

    __slots__ = ("raft", "i", "slot", "gen")

    def __init__(self, raft: "Consensus", i: int, slot: list, gen: int) -> None:
        self.raft, self.i, self.slot, self.gen = raft, i, slot, gen

    def __call__(self, outcome: int) -> None:
        self.raft.applied_one(self.i, self.slot, self.gen, outcome)


class Consensus:
    """The Raft nodes of one replicated store (see the module doc)."""

    def __init__(self, router: Any, config: ConsensusConfig) -> None:
        self.router, self.config, self.env = router, config, router.env
        self.n = n = len(router.names)
        self.majority = n // 2 + 1
        self.t_min, self.t_max = config.election_timeout
        self.lease = config.lease if config.lease is not None else self.t_min
        self.wait = config.unavailable == "wait"
        self.lease_reads = config.reads == "lease"
        streams, name = router.env.streams, router.name
        # One stream per replica, named by the store and the replica: adding a store draws nothing
        # from any other component's streams.
        self.rngs = [streams.get(f"{name}/consensus/{r}/election") for r in router.names]
        first = router.leader
        # Persistent state (survives a crash).
        self.term = [1] * n
        self.voted: list[int | None] = [first] * n
        self.log: list[list[tuple]] = [[(0, None, 0, -1, None)] for _ in range(n)]  # index 0: a sentinel
        self.commit = [0] * n
        # Volatile state.
        self.role = [FOLLOWER] * n
        self.role[first] = LEADER
        self.leader_of: list[int | None] = [first] * n
        self.heard_at = [0.0] * n
        self.quiet_until = [self.t_min] * n
        self.timeout = [0.0] * n
        self.votes: list[set] = [set() for _ in range(n)]
        self.next_index = [[1] * n for _ in range(n)]
        self.match_index = [[0] * n for _ in range(n)]
        self.lease_until = [0.0] * n
        self.contact_until = [0.0] * n
        self.term_start = [0] * n
        self.pre_term = [0] * n  # the term a pre-vote asks about (0: none under way)  # the leader's first index of its term (its no-op)
        self.pending: list[dict[int, tuple]] = [{} for _ in range(n)]  # leader: index -> (reply, key, version)
        self.appended_at: list[dict[int, float]] = [{} for _ in range(n)]
        self.pending_reads: list[list] = [[] for _ in range(n)]
        self.read_busy = [False] * n
        self.apply_waiting: list[list] = [[] for _ in range(n)]  # reads waiting for an index to be applied
        self.held: list[deque] = [deque() for _ in range(n)]  # calls waiting for a leader (unavailable: wait)
        self.dispatched = [0] * n  # entries handed to the database
        self.applied = [0] * n  # entries the database answered (all below too)
        self.apply_q: list[deque] = [deque() for _ in range(n)]
        # Per replica, keys with an application in the database: the next entry of such a key waits, so a
        # replica applies each key's entries in log order (a cas compares against the value before it)
        # while entries of other keys run in parallel on the database's connections.
        self.applying: list[dict] = [{} for _ in range(n)]
        self.gen = [0] * n  # crash generation: answers from before a crash are ignored
        self.beat_gen = [0] * n
        self.views: dict[int, int] = {}  # per client library: the replica it believes leads
        self.term_leader: dict[int, int] = {1: first}
        self.term_candidates: dict[int, int] = {}
        self.leaderless_since: float | None = None
        self.reset_stats()

    def reset_stats(self) -> None:
        self.leaders_elected = 0
        self.leader_changes = 0
        self.elections = 0  # candidacies (a replica starting an election)
        self.pre_votes = 0
        self.election_terms: list[int] = []  # terms in which an election started since the warm-up
        self.step_downs = 0
        self.outages: list[float] = []
        self.leaderless_s = 0.0
        if self.leaderless_since is not None:
            self.leaderless_since = self.env.now
        self.commit_latency: list[float] = []
        self.writes_rejected = 0
        self.writes_uncertain = 0
        self.reads_rejected = 0
        self.redirects = 0
        self.lost_writes = 0
        self.safety_violations = 0

    # --- build ----------------------------------------------------------------------------------
    def connect(self, system: Any) -> None:
        router, n = self.router, self.n
        net = system.network
        self.ports = [_Port(self, j) for j in range(n)]
        self.peer = {(i, j): net.link(router.members[i], self.ports[j]) for i in range(n) for j in range(n) if i != j}
        self.client_links: dict[tuple[int, int], Any] = {}
        for m in router.members:
            m.watchers.append(self)
        first = router.leader
        env = self.env
        for i in range(n):
            self.timeout[i] = self._draw(i)
            env.call_later(self.timeout[i], self._election_timer, i)
        self._become_leader_state(first)  # the configured leader leads term 1 from the start

    def _draw(self, i: int) -> float:
        lo, hi = self.t_min, self.t_max
        return lo if hi <= lo else float(self.rngs[i].uniform(lo, hi))

    # --- roles ----------------------------------------------------------------------------------
    def _become_follower(self, i: int, term: int, leader: int | None) -> None:
        was_leader = self.role[i] == LEADER
        if term > self.term[i]:
            self.term[i] = term
            self.voted[i] = None
        if self.role[i] != FOLLOWER or was_leader:
            self.timeout[i] = self._draw(i)
            self.heard_at[i] = self.env._now
        self.role[i] = FOLLOWER
        self.leader_of[i] = leader
        self.pre_term[i] = 0
        if was_leader:
            self._abandon(i, REJECTED)
            self._note_leader()
        if leader is not None and self.held[i]:
            self._release_held(i)

    def _abandon(self, i: int, read_outcome: int, fault: int = -1) -> None:
        """A leader stepped down or crashed (`fault`: the crash's token, -1 for a step-down): its
        uncommitted writes may or may not take effect later."""
        pending, self.pending[i] = self.pending[i], {}
        self.appended_at[i] = {}
        env, place = self.env, self.router.members[i].name
        for reply, _key, _version, sub in pending.values():
            self.writes_uncertain += 1
            note_failure(env, sub, CAUSE_LEADER_LOST, place, fault)
            reply(ERROR)
        reads = self.pending_reads[i] + self.apply_waiting[i]
        self.pending_reads[i], self.apply_waiting[i] = [], []
        self.read_busy[i] = False
        for entry in reads:
            self.reads_rejected += 1
            note_failure(env, entry[0].sub, CAUSE_LEADER_LOST, place, fault)
            entry[1](read_outcome)

    def _pre_campaign(self, i: int) -> None:
        """Pre-vote: would a majority vote for me in the next term? Nothing changes until it would."""
        now = self.env._now
        self.heard_at[i] = now
        self.timeout[i] = self._draw(i)
        self.pre_votes += 1
        term = self.term[i] + 1
        self.pre_term[i] = term
        self.leader_of[i] = None
        self.votes[i] = {i}
        if self.majority == 1:
            self._campaign(i)
            return
        self._ask_votes(i, term, True)

    def _ask_votes(self, i: int, term: int, pre: bool) -> None:
        now = self.env._now
        log = self.log[i]
        last = len(log) - 1
        for j in range(self.n):
            if j != i:
                msg = _Vote(-1, now, -1, "vote")
                msg.term, msg.src, msg.last_index, msg.last_term = term, i, last, log[last][0]
                msg.resp_term, msg.granted, msg.dest, msg.pre = 0, False, j, pre
                self.peer[(i, j)].send(msg, _Reply(self.on_vote_answer, msg))

    def _campaign(self, i: int) -> None:
        now = self.env._now
        self.pre_term[i] = 0
        self.term[i] += 1
        term = self.term[i]
        self.role[i] = CANDIDATE
        self.voted[i] = i
        self.votes[i] = {i}
        self.leader_of[i] = None
        self.heard_at[i] = now
        self.timeout[i] = self._draw(i)
        self.elections += 1
        count = self.term_candidates.get(term, 0)
        self.term_candidates[term] = count + 1
        if count == 0:
            self.election_terms.append(term)
            self._event("election", f"{self.router.names[i]} starts an election (term {term})")
        if self.majority == 1:
            self._become_leader(i)
            return
        self._ask_votes(i, term, False)

    def _become_leader(self, i: int) -> None:
        term = self.term[i]
        other = self.term_leader.get(term)
        if other is not None and other != i:
            self.safety_violations += 1  # two leaders in one term: must never happen
        self.term_leader[term] = i
        router = self.router
        # Every write acknowledged so far must be in the new leader's log (Leader Completeness).
        acked = router.acked.history
        if acked:
            have = {(e[1], e[2]) for e in self.log[i] if e[2]}
            for key, hist in acked.items():
                for v, _t in hist:
                    if (key, v) not in have:
                        self.lost_writes += 1
        self.leaders_elected += 1
        if router.leader != i:
            self.leader_changes += 1
        self.log[i].append((term, None, 0, -1, None))  # the no-op that commits the previous terms' entries
        self.term_start[i] = len(self.log[i]) - 1
        self._become_leader_state(i)
        self._event("leader", f"{router.names[i]} leads term {term}")
        self._broadcast(i, None)

    def _become_leader_state(self, i: int) -> None:
        now = self.env._now
        self.role[i] = LEADER
        self.leader_of[i] = i
        self.router.leader = i
        self.router.leader_set = [i]
        last = len(self.log[i])
        self.next_index[i] = [last] * self.n
        self.match_index[i] = [0] * self.n
        self.match_index[i][i] = last - 1
        self.lease_until[i] = now  # no read lease before a majority acknowledges a round
        self.contact_until[i] = now + self.lease
        self.beat_gen[i] += 1
        self.env.call_later(self.config.heartbeat, self._beat, (i, self.beat_gen[i]))
        self._note_leader()
        if self.held[i]:
            self._release_held(i)

    def _note_leader(self) -> None:
        """Time without a leader: no available replica believes it leads."""
        now = self.env._now
        has = any(self.role[j] == LEADER and not self.router.members[j].unavailable for j in range(self.n))
        if has and self.leaderless_since is not None:
            d = now - self.leaderless_since
            self.outages.append(d)
            self.leaderless_s += d
            self.leaderless_since = None
        elif not has and self.leaderless_since is None:
            self.leaderless_since = now

    def _event(self, kind: str, description: str) -> None:
        events = self.router.events
        if len(events) < MAX_EVENTS:
            events.append({"at_s": self.env._now, "kind": kind, "description": description})

    # --- timers ---------------------------------------------------------------------------------
    def _election_timer(self, timer: Any) -> None:
        i = timer._value
        env = self.env
        if self.role[i] == LEADER or self.router.members[i].unavailable:
            env.call_later(self.t_min, self._election_timer, i)
            return
        deadline = self.heard_at[i] + self.timeout[i]
        now = env._now
        if now < deadline - _EPS:
            env.call_later(deadline - now, self._election_timer, i)
            return
        if self.config.pre_vote:
            self._pre_campaign(i)
        else:
            self._campaign(i)
        env.call_later(self.timeout[i], self._election_timer, i)

    def _beat(self, timer: Any) -> None:
        i, gen = timer._value
        if self.role[i] != LEADER or gen != self.beat_gen[i]:
            return  # stepped down (or leads again, with a ticker of its own)
        env = self.env
        env.call_later(self.config.heartbeat, self._beat, timer._value)
        if self.router.members[i].unavailable:
            return  # a paused leader sends nothing (and steps down once it runs again: its lease ran out)
        if env._now >= self.contact_until[i] - _EPS:
            self.step_downs += 1  # no majority acknowledged a round for `lease`: check-quorum
            self._event("leader", f"{self.router.names[i]} steps down (term {self.term[i]}): no majority for {self.lease:g}s")
            self._become_follower(i, self.term[i], None)
            return
        self._broadcast(i, None)

    # --- replication ----------------------------------------------------------------------------
    def _broadcast(self, i: int, reads: list | None) -> None:
        """A heartbeat round (with any entries followers lack) to every follower."""
        if reads is None:
            reads, self.pending_reads[i] = self.pending_reads[i], []
        rnd = _Round(self.term[i], self.env._now, reads, self.commit[i])
        if reads:
            self.read_busy[i] = True
        for j in range(self.n):
            if j != i:
                self._send_append(i, j, rnd)
        if rnd.acks >= self.majority:
            self._round_done(i, rnd)

    def _send_append(self, i: int, j: int, rnd: _Round | None) -> None:
        log = self.log[i]
        nxt = self.next_index[i][j]
        prev = nxt - 1
        entries = log[nxt:nxt + MAX_ENTRIES] if nxt < len(log) else []
        msg = _Append(-1, self.env._now, -1, "append")
        msg.term, msg.src, msg.prev_index, msg.prev_term = self.term[i], i, prev, log[prev][0]
        msg.entries, msg.commit, msg.round = entries, self.commit[i], rnd
        msg.resp_term, msg.success, msg.match, msg.hint, msg.dest = 0, False, 0, 0, j
        self.next_index[i][j] = nxt + len(entries)  # pipelined: the next append follows these
        self.peer[(i, j)].send(msg, _Reply(self.on_append_answer, msg))

    def on_append(self, j: int, msg: _Append, reply: Reply) -> None:
        now = self.env._now
        if msg.term < self.term[j]:
            msg.resp_term = self.term[j]
            reply(OK)
            return
        if msg.term > self.term[j] or self.role[j] != FOLLOWER or self.leader_of[j] != msg.src:
            self._become_follower(j, msg.term, msg.src)
        self.heard_at[j] = now
        self.quiet_until[j] = now + self.t_min
        msg.resp_term = self.term[j]
        log = self.log[j]
        prev = msg.prev_index
        if prev >= len(log):
            msg.hint = len(log)
            reply(OK)
            return
        if log[prev][0] != msg.prev_term:
            bad = log[prev][0]
            k = prev
            while k > 1 and log[k - 1][0] == bad:
                k -= 1
            msg.hint = k  # the first index of the conflicting term: the leader resends from there
            reply(OK)
            return
        idx = prev + 1
        for e in msg.entries:
            if idx < len(log):
                if log[idx][0] != e[0]:
                    del log[idx:]
                    log.append(e)
            else:
                log.append(e)
            idx += 1
        match = prev + len(msg.entries)
        msg.success, msg.match = True, match
        if msg.commit > self.commit[j]:
            self.commit[j] = max(self.commit[j], min(msg.commit, match))
            self._apply(j)
        reply(OK)

    def on_append_answer(self, msg: _Append, outcome: int) -> None:
        i = msg.src
        if outcome != OK:  # lost, cut or refused: send from what it is known to hold next time
            if self.role[i] == LEADER and self.term[i] == msg.term:
                j = msg.dest
                self.next_index[i][j] = min(self.next_index[i][j], self.match_index[i][j] + 1)
            return
        if msg.resp_term > self.term[i]:
            self._become_follower(i, msg.resp_term, None)
            return
        if self.role[i] != LEADER or self.term[i] != msg.term:
            return
        j = msg.dest
        rnd = msg.round
        if rnd is not None and not rnd.done:
            rnd.acks += 1
            if rnd.acks >= self.majority:
                self._round_done(i, rnd)
        if msg.success:
            if msg.match > self.match_index[i][j]:
                self.match_index[i][j] = msg.match
                self._advance(i)
            if self.next_index[i][j] <= msg.match:
                self.next_index[i][j] = msg.match + 1
        else:
            self.next_index[i][j] = max(1, min(msg.hint, len(self.log[i])))
            self._send_append(i, j, None)

    def _round_done(self, i: int, rnd: _Round) -> None:
        rnd.done = True
        until = rnd.sent_at + self.lease
        if until > self.contact_until[i]:
            self.contact_until[i] = until
        if until > self.lease_until[i]:
            self.lease_until[i] = until
        if rnd.reads:
            self.read_busy[i] = False
            for entry in rnd.reads:
                self._read_when_applied(i, entry, rnd.read_index)
            if self.pending_reads[i]:
                self._broadcast(i, None)

    def _advance(self, i: int) -> None:
        """The leader commits the highest index a majority holds, if it is of its own term."""
        matches = sorted(self.match_index[i], reverse=True)
        n_idx = matches[self.majority - 1]
        if n_idx > self.commit[i] and self.log[i][n_idx][0] == self.term[i]:
            now = self.env._now
            at = self.appended_at[i]
            for k in range(self.commit[i] + 1, n_idx + 1):
                t = at.pop(k, None)
                if t is not None:
                    self.commit_latency.append(now - t)
            self.commit[i] = n_idx
            self._apply(i)

    # --- applying committed entries to the replica's database -------------------------------------
    def _apply(self, i: int) -> None:
        member = self.router.members[i]
        if member.unavailable:
            return  # it applies the rest when it runs again
        log = self.log[i]
        op = self.router.write_op
        gen = self.gen[i]
        q = self.apply_q[i]
        busy = self.applying[i]
        while self.dispatched[i] < self.commit[i]:
            k = self.dispatched[i] + 1
            term, key, version, rid, wop = log[k]
            if version and key in busy:
                break  # its key's previous entry is still being applied: dispatched when that one is done
            self.dispatched[i] = k
            slot = [k, False]
            q.append(slot)
            if not version:  # a no-op: nothing to apply
                slot[1] = True
                continue
            busy[key] = True
            sub = VersionedWrite(rid, self.env._now, -1, wop or op, key)  # the client's id: the value it wrote
            sub.version = version
            member.handle(sub, _Applied(self, i, slot, gen))
        self._applied_front(i)

    def applied_one(self, i: int, slot: list, gen: int, outcome: int) -> None:
        if gen != self.gen[i]:
            return  # answered after a crash reset the queue: re-applied from `applied`
        if outcome != OK:  # the database failed it (an error fault): apply it again after a heartbeat
            self.env.call_later(self.config.heartbeat, self._reapply, (i, slot, gen))
            return
        slot[1] = True
        self.applying[i].pop(self.log[i][slot[0]][1], None)
        self._applied_front(i)
        if self.dispatched[i] < self.commit[i]:
            self._apply(i)  # entries held behind this one's key

    def _reapply(self, timer: Any) -> None:
        i, slot, gen = timer._value
        if gen != self.gen[i]:
            return
        term, key, version, rid, wop = self.log[i][slot[0]]
        sub = VersionedWrite(rid, self.env._now, -1, wop or self.router.write_op, key)
        sub.version = version
        self.router.members[i].handle(sub, _Applied(self, i, slot, gen))

    def _applied_front(self, i: int) -> None:
        q = self.apply_q[i]
        before = self.applied[i]
        while q and q[0][1]:
            self.applied[i] = q.popleft()[0]
        if self.applied[i] == before:
            return
        applied = self.applied[i]
        if self.role[i] == LEADER:
            pending = self.pending[i]
            router = self.router
            now = self.env._now
            for k in range(before + 1, applied + 1):
                p = pending.pop(k, None)
                if p is not None:
                    reply, key, version, _sub = p
                    router.acknowledge(key, version, now)
                    reply(OK)
            waiting = self.apply_waiting[i]
            if waiting:
                ready = [w for w in waiting if w[2] <= applied]
                if ready:
                    self.apply_waiting[i] = [w for w in waiting if w[2] > applied]
                    for w in ready:
                        self._serve_read(i, w)

    # --- votes ----------------------------------------------------------------------------------
    def on_vote(self, j: int, msg: _Vote, reply: Reply) -> None:
        now = self.env._now
        if msg.pre:  # answered as it would vote, changing nothing
            log = self.log[j]
            last = len(log) - 1
            msg.resp_term = self.term[j]
            msg.granted = (msg.term > self.term[j] and now >= self.quiet_until[j] - _EPS
                           and not (self.role[j] == LEADER and now < self.contact_until[j] - _EPS)
                           and (msg.last_term, msg.last_index) >= (log[last][0], last))
            reply(OK)
            return
        if msg.term < self.term[j]:
            msg.resp_term = self.term[j]
            reply(OK)
            return
        if msg.term > self.term[j]:
            if now < self.quiet_until[j] - _EPS or (self.role[j] == LEADER and now < self.contact_until[j] - _EPS):
                msg.resp_term = self.term[j]  # a live leader is known: ignored, term unchanged
                reply(OK)
                return
            self._become_follower(j, msg.term, None)
        msg.resp_term = self.term[j]
        log = self.log[j]
        last = len(log) - 1
        up_to_date = (msg.last_term, msg.last_index) >= (log[last][0], last)
        if up_to_date and self.voted[j] in (None, msg.src):
            self.voted[j] = msg.src
            msg.granted = True
            self.heard_at[j] = now  # granting a vote resets its election timer
        reply(OK)

    def on_vote_answer(self, msg: _Vote, outcome: int) -> None:
        if outcome != OK:
            return
        i = msg.src
        if msg.resp_term > self.term[i]:
            self._become_follower(i, msg.resp_term, None)
            return
        if msg.pre:
            if (msg.granted and self.pre_term[i] == msg.term and self.role[i] != LEADER
                    and not self.router.members[i].unavailable):
                votes = self.votes[i]
                votes.add(msg.dest)
                if len(votes) >= self.majority:
                    self._campaign(i)
            return
        if self.role[i] != CANDIDATE or self.term[i] != msg.term or not msg.granted:
            return
        if self.router.members[i].unavailable:
            return
        votes = self.votes[i]
        votes.add(msg.dest)
        if len(votes) >= self.majority:
            self._become_leader(i)

    # --- failures ---------------------------------------------------------------------------------
    def component_changed(self, member: Any) -> None:
        j = self.router.members.index(member)
        now = self.env._now
        if member.down:
            self.gen[j] += 1
            self.apply_q[j].clear()
            self.applying[j].clear()
            self.dispatched[j] = self.applied[j]
            fault = member.fault_token("crash")
            if self.role[j] == LEADER:
                self.role[j] = FOLLOWER
                self._abandon(j, ERROR, fault)
            self.role[j] = FOLLOWER
            self.leader_of[j] = None
            held, self.held[j] = self.held[j], deque()
            for call, reply in held:
                note_failure(self.env, call.sub, CAUSE_CRASHED, member.name, fault)
                reply(ERROR)
        elif not member.unavailable:  # back from a crash or a pause
            if self.role[j] != LEADER:
                self.heard_at[j] = now
                self.timeout[j] = self._draw(j)
                self.quiet_until[j] = max(self.quiet_until[j], now + self.t_min)  # it may have voted before
            self._apply(j)
        self._note_leader()

    # --- client calls ---------------------------------------------------------------------------
    def send_call(self, call: _Call, j: int) -> None:
        call.tried += 1
        call.at = j
        proxy = call.proxy
        link = self.client_links.get((id(proxy), j))
        if link is None:
            link = self.client_links[(id(proxy), j)] = self.env.network.link(proxy, self.ports[j])
        call.sub.meta = call
        link.send(call.sub, call)

    def submit(self, proxy: Any, req: Request, reply: Reply, is_write: bool) -> None:
        router = self.router
        if is_write:
            key = req.key
            last = router.issued.get(key)
            version = (last[0] if last else 0) + 1
            router.issued[key] = (version, -1)
            sub = VersionedWrite(req.id, req.t0, req.wl, req.op, key, req.user, req.region)
            sub.version = version
            call = _Call(self, proxy, sub, reply, True)
        else:
            sub = _ClientRead(req.id, req.t0, req.wl, req.op, req.key, req.user, req.region)
            sub.acked = router.acked.latest.get(req.key, 0) if req.key is not None else 0
            call = _Call(self, proxy, sub, reply, False)
        j = self.views.get(id(proxy))
        if j is None:
            j = self.views[id(proxy)] = router.leader
        self.send_call(call, j)

    def on_client(self, j: int, sub: Request, reply: Reply) -> None:
        call = sub.meta
        if self.role[j] != LEADER:
            leader = self.leader_of[j]
            if leader is None and self.wait:
                self.held[j].append((call, reply))
                return
            self._refuse(call, reply, leader)
            return
        if call.is_write:
            log = self.log[j]
            # The log decides the order of writes: the version is the entry's index (increasing along the
            # log on every replica), not the number the client library drew when the call left, which
            # concurrent calls can reach the leader out of order (a cas would compare against the wrong value).
            sub.version = len(log)
            log.append((self.term[j], sub.key, sub.version, sub.id, sub.op))  # the client's id and op: its value (histories)
            k = len(log) - 1
            self.match_index[j][j] = k
            self.pending[j][k] = (reply, sub.key, sub.version, sub)  # the request: for a failure's cause
            self.appended_at[j][k] = self.env._now
            self.router.writes_by[j] += 1
            for f in range(self.n):
                if f != j:
                    self._send_append(j, f, None)
            if self.majority == 1:
                self._advance(j)
        else:
            entry = (call, reply, 0)
            if self.lease_reads and self.env._now < self.lease_until[j] - _EPS:
                self._read_when_applied(j, entry, self.commit[j])
            else:
                self.pending_reads[j].append(entry)
                if not self.read_busy[j]:
                    self._broadcast(j, None)

    def _refuse(self, call: _Call, reply: Reply, leader: int | None) -> None:
        call.hint = leader
        if leader is None or call.tried >= self.n:
            if call.is_write:
                self.writes_rejected += 1
            else:
                self.reads_rejected += 1
            note_failure(self.env, call.sub, CAUSE_NO_LEADER, self.router.members[call.at].name)
        else:
            self.redirects += 1
        reply(REJECTED)

    def _release_held(self, j: int) -> None:
        held, self.held[j] = self.held[j], deque()
        for call, reply in held:
            self.on_client(j, call.sub, reply)

    def _read_when_applied(self, i: int, entry: tuple, index: int) -> None:
        # A new leader reads only once an entry of its own term is committed (its no-op).
        index = max(index, self.term_start[i])
        if self.applied[i] >= index:
            self._serve_read(i, entry)
        else:
            self.apply_waiting[i].append((entry[0], entry[1], index))

    def _serve_read(self, i: int, entry: tuple) -> None:
        call, reply = entry[0], entry[1]
        sub = call.sub
        member = self.router.members[i]
        local = Request(sub.id, sub.t0, sub.wl, sub.op, sub.key, sub.user, sub.region)
        member.handle(local, _LocalRead(self, i, local, sub, reply))

    def read_answered(self, i: int, local: Request, sub: "_ClientRead", reply: Reply, outcome: int) -> None:
        if outcome == OK and sub.key is not None:
            router = self.router
            returned = local.meta or 0
            latest = sub.acked
            since = router.acked.stale_since(sub.key, returned) if returned < latest else None
            router.stale.record(returned, latest, since, self.env._now)
            router.reads_by[i] += 1
        reply(outcome)

    # --- metrics --------------------------------------------------------------------------------
    def _not_on_majority(self) -> int:
        """Writes acknowledged to a client that fewer than a majority of the logs hold (must be 0)."""
        acked = self.router.acked.history
        if not acked:
            return 0
        held: dict[tuple, int] = {}
        for log in self.log:
            for e in {(e[1], e[2]) for e in log if e[2]}:
                held[e] = held.get(e, 0) + 1
        return sum(1 for key, hist in acked.items() for v, _t in hist if held.get((key, v), 0) < self.majority)

    def stats(self) -> dict[str, Any]:
        leaderless = self.leaderless_s
        if self.leaderless_since is not None:
            leaderless += self.env.now - self.leaderless_since
        split = sum(1 for t in self.election_terms
                    if self.term_candidates.get(t, 0) >= 2 and t not in self.term_leader)
        return {
            "consensus": {
                "term": max(self.term),
                "leaders_elected": self.leaders_elected,
                "leader_changes": self.leader_changes,
                "elections": len(self.election_terms),
                "candidacies": self.elections,
                "pre_votes": self.pre_votes,
                "split_votes": split,
                "step_downs": self.step_downs,
                "time_without_leader_s": leaderless,
                "outages_s": self.outages[:100],
                "commit_latency_s": percentiles(self.commit_latency),
                "writes_rejected": self.writes_rejected,
                "writes_uncertain": self.writes_uncertain,
                "reads_rejected": self.reads_rejected,
                "redirects": self.redirects,
                "safety_violations": self.safety_violations,
                "roles": {self.router.names[j]: ("follower", "candidate", "leader")[self.role[j]] for j in range(self.n)},
                "terms": {self.router.names[j]: self.term[j] for j in range(self.n)},
                "acknowledged_not_on_majority": self._not_on_majority(),
                "log_length": {self.router.names[j]: len(self.log[j]) - 1 for j in range(self.n)},
                "commit_index": {self.router.names[j]: self.commit[j] for j in range(self.n)},
            },
            "lost_writes": self.lost_writes,
        }


class _ClientRead(Request):
    """A client's read on its way to the leader: what was acknowledged when it started."""

    __slots__ = ("acked",)


class _LocalRead:
    __slots__ = ("raft", "i", "local", "sub", "reply")

    def __init__(self, raft: Consensus, i: int, local: Request, sub: _ClientRead, reply: Reply) -> None:
        self.raft, self.i, self.local, self.sub, self.reply = raft, i, local, sub, reply

    def __call__(self, outcome: int) -> None:
        self.raft.read_answered(self.i, self.local, self.sub, self.reply, outcome)


@registry.replication_modes.register("consensus")
class ConsensusMode(ReplicationMode):
    """Raft-like replicated log: elections, majority commit, linearizable reads (models/consensus.py)."""

    def __init__(self, router: Any) -> None:
        super().__init__(router)
        config = router.config.consensus or ConsensusConfig()
        self.raft = Consensus(router, config)

    def leaders(self) -> list[int]:
        return []  # no replication streams: the log replicates itself

    def connect(self, system: Any) -> None:
        self.raft.connect(system)

    def write(self, proxy: Any, req: Request, reply: Reply) -> None:
        self.raft.submit(proxy, req, reply, True)

    def read(self, proxy: Any, req: Request, reply: Reply) -> None:
        self.raft.submit(proxy, req, reply, False)

    def reset_stats(self) -> None:
        self.raft.reset_stats()

    def extra_stats(self) -> dict[str, Any]:
        return self.raft.stats()
