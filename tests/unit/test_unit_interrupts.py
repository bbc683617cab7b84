"""A signal that arrives while a pool waits on its runs is raised at a safe point, not inside a lock."""
import pytest

from cli import SignalStop
from simulator.study import interrupts


def test_a_signal_inside_a_deferred_block_is_raised_when_the_waiting_code_asks():
    stop = SignalStop()
    with interrupts.deferred():
        stop.handle(15, None)  # inside a condition wait this used to raise: no exception here
        with pytest.raises(KeyboardInterrupt):
            interrupts.raise_if_requested()
    assert stop.signum == 15


def test_a_signal_recorded_but_not_polled_is_raised_when_the_block_ends():
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            SignalStop().handle(2, None)
    interrupts.raise_if_requested()  # and only once


def test_outside_a_deferred_block_the_signal_raises_at_once():
    with pytest.raises(KeyboardInterrupt):
        SignalStop().handle(2, None)
