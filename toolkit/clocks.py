"""Clocks: the one way time enters the layers.

Times are integer milliseconds. No layer reads the wall clock directly; each takes a
:class:`Clock` and calls :meth:`Clock.now_millis` once per operation.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidArgumentError, check_non_negative_int

__all__ = ["Clock", "SystemClock", "ManualClock", "SimClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current time in integer milliseconds."""

    def now_millis(self) -> int:
        """Return the current time in milliseconds."""
        ...


class SystemClock:
    """Wall-clock time: milliseconds since the Unix epoch."""

    __slots__ = ()

    def now_millis(self) -> int:
        """Return the wall-clock time in milliseconds since the epoch."""
        return time.time_ns() // 1_000_000

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that moves only when told to: for tests and notebooks.

    Time never goes backwards: ``advance`` takes a non-negative step and ``set`` refuses an
    earlier time.
    """

    __slots__ = ("_now",)

    def __init__(self, start_millis: int = 0) -> None:
        self._now = check_non_negative_int("start_millis", start_millis)

    def now_millis(self) -> int:
        """Return the current manual time."""
        return self._now

    def advance(self, millis: int) -> int:
        """Move time forward by ``millis`` (>= 0); return the new time."""
        if type(millis) is not int or millis < 0:  # an int subclass (bool) or a bad value
            check_non_negative_int("millis", millis)
        self._now = now = self._now + millis
        return now

    def set(self, millis: int) -> int:
        """Set time to ``millis``, which must not be earlier than now; return it."""
        check_non_negative_int("millis", millis)
        if millis < self._now:
            raise InvalidArgumentError(
                f"ManualClock cannot go backwards: now={self._now}, asked for {millis}"
            )
        self._now = millis
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now})"


class SimClock:
    """The time of a SimPy environment, in milliseconds.

    ``millis_per_unit`` says how many milliseconds one unit of simulated time is (1000: the
    environment counts seconds; 1: it counts milliseconds).
    """

    __slots__ = ("env", "millis_per_unit")

    def __init__(self, env: Any, millis_per_unit: float = 1000) -> None:
        if not hasattr(env, "now"):
            raise InvalidArgumentError(f"SimClock needs a SimPy environment, got {env!r}")
        if isinstance(millis_per_unit, bool) or not isinstance(millis_per_unit, (int, float)):
            raise InvalidArgumentError(f"millis_per_unit must be a number, got {millis_per_unit!r}")
        if millis_per_unit <= 0:
            raise InvalidArgumentError(f"millis_per_unit must be > 0, got {millis_per_unit!r}")
        self.env = env
        self.millis_per_unit = millis_per_unit

    def now_millis(self) -> int:
        """Return the environment's ``now`` converted to whole milliseconds."""
        if self.millis_per_unit == 1:
            return round(self.env.now)
        return round(self.env.now * self.millis_per_unit)

    def __repr__(self) -> str:
        return f"SimClock(now={self.now_millis()}ms, millis_per_unit={self.millis_per_unit})"


def check_clock(clock: object, call: str = "") -> None:
    """Raise :class:`~toolkit.errors.InvalidArgumentError` unless ``clock`` is None or has a
    ``now_millis()`` method (a :class:`Clock`); ``call`` shows the expected argument order."""
    if clock is None or callable(getattr(clock, "now_millis", None)):
        return
    where = f" (the arguments are {call})" if call else ""
    raise InvalidArgumentError(
        f"clock must be a Clock with now_millis(), such as ManualClock or SystemClock, got "
        f"{clock!r}{where}"
    )
