"""SimEnv's run loop: dsim's own events are dispatched directly, SimPy's go through SimPy, one heap,
one clock, one order among events of the same time (simulator.engine.env)."""
import pytest
import simpy

from simulator.engine.env import SimEnv, Timer


def test_dsim_events_and_simpy_processes_interleave_in_scheduling_order_at_equal_times():
    env = SimEnv(seed=1)
    log = []

    def proc(name):
        yield env.timeout(1.0)
        log.append((env.now, name))
        yield env.timeout(1.0)
        log.append((env.now, name))

    env.call_later(1.0, lambda t: log.append((env.now, t._value)), "timer-a")  # scheduled before the process's timeout
    env.process(proc("proc"))  # its first timeout is scheduled when it starts (an URGENT init event at 0)
    env.call_later(2.0, lambda t: log.append((env.now, t._value)), "timer-b")  # before the process's second timeout
    env.run()
    assert log == [(1.0, "timer-a"), (1.0, "proc"), (2.0, "timer-b"), (2.0, "proc")]
    # timers: 2; the process: its init event, two timeouts, and the process event itself ending
    assert env.events == 2 + 4


def test_run_until_stops_before_events_at_that_time_and_resumes_like_simpy():
    env = SimEnv(seed=1)
    seen = []
    for t in (0.5, 1.0, 1.0, 2.5):
        env.call_later(t, lambda timer: seen.append(env.now))
    env.run(until=1.0)
    assert env.now == 1.0 and seen == [0.5]  # `until` comes before the NORMAL events at 1.0, as in SimPy
    env.run(until=3.0)
    assert seen == [0.5, 1.0, 1.0, 2.5]
    with pytest.raises(ValueError):
        env.run(until=2.0)


def test_run_until_an_event_returns_its_value_and_simpy_failures_still_raise():
    env = SimEnv(seed=1)

    def answer():
        yield env.timeout(2.0)
        return 42

    assert env.run(until=env.process(answer())) == 42
    bad = env.event()
    env.call_later(1.0, lambda _t: bad.fail(KeyError("boom")))
    with pytest.raises(KeyError):
        env.run()


def test_step_processes_one_event_of_either_kind():
    env = SimEnv(seed=1)
    hits = []
    env.call_later(1.0, lambda t: hits.append("timer"))
    env.timeout(2.0).callbacks.append(lambda e: hits.append("simpy"))
    env.step()
    assert hits == ["timer"] and env.now == 1.0
    env.step()
    assert hits == ["timer", "simpy"] and env.now == 2.0 and env.events == 2
    with pytest.raises(simpy.core.EmptySchedule):
        env.step()


def test_an_error_inside_a_dsim_event_propagates_and_is_not_mistaken_for_a_simpy_event():
    env = SimEnv(seed=1)

    def broken(_t):
        raise AttributeError("a bug in a model")

    env.at(1.0, Timer(broken))
    with pytest.raises(AttributeError, match="a bug in a model"):
        env.run()


def test_a_run_tunes_the_cyclic_collector_and_restores_it_even_when_it_fails():
    import gc

    from simulator.engine.env import GC_YOUNG_THRESHOLD

    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    env = SimEnv(seed=1)
    seen = []

    def look(_timer):
        seen.append((gc.get_threshold()[0], gc.get_freeze_count() > 0))

    env.call_later(1.0, look)
    env.run()
    assert seen[0] == (max(before[0], GC_YOUNG_THRESHOLD), True)
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen

    def boom(_timer):
        raise RuntimeError("boom")

    env.call_later(1.0, boom)
    with pytest.raises(RuntimeError):
        env.run()
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen


def test_a_program_that_manages_the_collector_itself_is_left_alone():
    import gc

    env = SimEnv(seed=1)
    seen = []
    env.call_later(1.0, lambda _t: seen.append((gc.isenabled(), gc.get_freeze_count())))
    threshold = gc.get_threshold()
    gc.disable()
    try:
        env.run()
    finally:
        gc.enable()
    assert seen == [(False, 0)] and gc.get_threshold() == threshold


def test_overlapping_runs_tune_the_collector_once_and_the_last_one_restores_it():
    import gc

    from simulator.engine.env import GC_YOUNG_THRESHOLD, collector_for_runs

    before = gc.get_threshold()
    outer = collector_for_runs()
    inner = collector_for_runs()
    outer.__enter__()
    inner.__enter__()  # a second run starting while the first goes on (another thread)
    outer.__exit__(None, None, None)  # the first ends first: the second still runs tuned
    assert gc.get_threshold()[0] == max(before[0], GC_YOUNG_THRESHOLD) and gc.get_freeze_count() > 0
    inner.__exit__(None, None, None)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
