"""Timeouts of one source share a deadline queue with one pending timer (simulator.engine.request.Deadlines)."""
from pathlib import Path

import simulator
from simulator.engine.env import SimEnv
from simulator.engine.request import OK, TIMED_OUT, Deadlines, Once

ROOT = Path(__file__).resolve().parents[1]


def test_a_deadline_queue_expires_exactly_the_unanswered_entries_at_their_deadlines():
    env = SimEnv(seed=1)
    dl = Deadlines(env, 1.0)
    got: dict[int, tuple[float, int]] = {}
    # (set at, answered after; None: never). The reply of 3 comes exactly at its deadline: the
    # timeout was set first, so it wins, as a timer of its own would have.
    plan = {0: (0.0, 0.3), 1: (0.1, None), 2: (0.2, 2.5), 3: (0.5, 1.0), 4: (0.6, 0.1), 5: (0.6, None),
            6: (2.0, None), 7: (2.1, 0.9)}

    def issue(i, answer_after):
        reply = dl.wrap(lambda outcome, i=i: got.setdefault(i, (env.now, outcome)))
        assert type(reply) is Once
        if answer_after is not None:
            env.call_later(answer_after, lambda _t: reply(OK))

    for i, (at, answer_after) in plan.items():
        env.call_later(at, lambda _t, i=i, a=answer_after: issue(i, a))
    env.run()
    assert got == {0: (0.3, OK), 1: (1.1, TIMED_OUT), 2: (1.2, TIMED_OUT), 3: (1.5, TIMED_OUT), 4: (0.7, OK),
                   5: (1.6, TIMED_OUT), 6: (3.0, TIMED_OUT), 7: (3.0, OK)}
    assert len(dl) == 0 and not dl.armed
    # 8 issues, 5 replies, 5 timeouts, and 2 timer events that found their entry answered (0 at 1.0,
    # 7 at 3.1); entry 4, answered, is dropped without an event of its own
    assert env.events == 8 + 5 + 5 + 2


def _three_tier(per_request_timers: bool, monkeypatch):
    if per_request_timers:  # what there was before: one timer per request, never cancelled
        def wrap(self, reply):
            once = Once(reply)
            self.env.call_later(self.timeout_s, once.expire)
            return once

        monkeypatch.setattr(Deadlines, "wrap", wrap)
    sc = simulator.with_overrides(simulator.load_scenario(ROOT / "scenarios" / "three-tier.yaml"),
                                  {"duration": "150s"})  # the crash at 120s included
    result = simulator.run(sc)
    monkeypatch.undo()
    return result, result.summary.pop("events")  # events processed: the run counts them


def test_three_tier_takes_fewer_events_with_the_same_results(monkeypatch):
    before, before_events = _three_tier(True, monkeypatch)
    after, after_events = _three_tier(False, monkeypatch)
    assert after.summary == before.summary
    requests = after.summary["requests"]["generated"]
    # each request set a client timeout that fired in vain; now almost none does
    assert before_events - after_events > 0.9 * requests
