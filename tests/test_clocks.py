"""Clocks: integer milliseconds, manual time that never goes back, SimPy time."""

from __future__ import annotations

import time

import pytest
import simpy

from toolkit import Clock, InvalidArgumentError, ManualClock, SimClock, SystemClock


def test_system_clock_reads_wall_time_in_millis() -> None:
    before = time.time_ns() // 1_000_000
    now = SystemClock().now_millis()
    after = time.time_ns() // 1_000_000
    assert isinstance(now, int)
    assert before <= now <= after


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(start_millis=5)
    assert clock.now_millis() == 5
    assert clock.now_millis() == 5
    assert clock.advance(10) == 15
    assert clock.set(100) == 100
    assert clock.now_millis() == 100
    clock.advance(0)
    assert clock.now_millis() == 100


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None, True])
def test_manual_clock_refuses_bad_steps(bad: object) -> None:
    clock = ManualClock(7)
    with pytest.raises(InvalidArgumentError, match="millis"):
        clock.advance(bad)  # type: ignore[arg-type]
    assert clock.now_millis() == 7


def test_manual_clock_never_goes_backwards() -> None:
    clock = ManualClock(50)
    with pytest.raises(InvalidArgumentError, match="backwards.*50.*49"):
        clock.set(49)
    assert clock.now_millis() == 50


def test_manual_clock_refuses_negative_start() -> None:
    with pytest.raises(InvalidArgumentError, match="-3"):
        ManualClock(-3)


def test_sim_clock_follows_the_environment() -> None:
    env = simpy.Environment()
    clock = SimClock(env)  # the environment counts seconds
    seen = []

    def proc(env: simpy.Environment):
        seen.append(clock.now_millis())
        yield env.timeout(1.5)
        seen.append(clock.now_millis())
        yield env.timeout(0.0004)
        seen.append(clock.now_millis())

    env.process(proc(env))
    env.run()
    assert seen == [0, 1500, 1500]
    assert all(type(t) is int for t in seen)


def test_sim_clock_in_milliseconds() -> None:
    env = simpy.Environment(initial_time=42)
    assert SimClock(env, millis_per_unit=1).now_millis() == 42


@pytest.mark.parametrize("bad", [0, -1, "x"])
def test_sim_clock_refuses_bad_scale(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="millis_per_unit"):
        SimClock(simpy.Environment(), millis_per_unit=bad)  # type: ignore[arg-type]


def test_sim_clock_needs_an_environment() -> None:
    with pytest.raises(InvalidArgumentError, match="SimPy environment"):
        SimClock(object())


def test_every_clock_satisfies_the_protocol() -> None:
    for clock in (SystemClock(), ManualClock(), SimClock(simpy.Environment())):
        assert isinstance(clock, Clock)
