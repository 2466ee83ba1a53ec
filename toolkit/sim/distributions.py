"""Integer-valued distributions for value sizes (bytes), TTLs and max-idle times (ms)."""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field
from typing import Any

import numpy as np

from ..errors import plain_fields
from .errors import ScenarioError, check_choice, check_int, check_number

__all__ = ["Distribution", "DISTRIBUTION_KINDS", "KIND_FIELDS"]

#: The kinds of :class:`Distribution`.
DISTRIBUTION_KINDS: tuple[str, ...] = ("constant", "uniform", "exponential", "lognormal", "choice")

#: The fields each kind reads (``maximum`` applies to every kind).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "uniform": ("low", "high"),
    "exponential": ("mean",),
    "lognormal": ("median", "sigma"),
    "choice": ("values", "weights"),
}
#: Unbounded draws are capped here (int64 holds them, with room to add a time to them).
_LARGEST = 2.0**62
_LARGEST_INT = 2**62
#: Every kind-specific field (all of them but ``kind`` and ``maximum``).
PARAMETERS: tuple[str, ...] = tuple(name for names in KIND_FIELDS.values() for name in names)


@dataclass(frozen=True, slots=True)
class Distribution:
    """A distribution of non-negative integers (bytes or milliseconds).

    * ``constant``: always ``value``.
    * ``uniform``: integers from ``low`` to ``high`` inclusive.
    * ``exponential``: mean ``mean``, rounded to an integer.
    * ``lognormal``: median ``median`` and shape ``sigma`` (of the underlying normal).
    * ``choice``: one of ``values``, with probabilities proportional to ``weights`` (equal
      when ``weights`` is empty); ``values = [0, 30000]`` gives half the entries no TTL.

    ``maximum`` (> 0) caps every draw. Bad parameters, and a parameter of another kind
    (``low`` on a constant, say: it would be silently ignored), raise
    :class:`~toolkit.sim.ScenarioError` naming the field.
    """

    kind: str = "constant"
    value: int = 0
    low: int = 0
    high: int = 0
    mean: float = 0.0
    median: float = 0.0
    sigma: float = 0.0
    values: tuple[int, ...] = field(default_factory=tuple)
    weights: tuple[float, ...] = field(default_factory=tuple)
    maximum: int = 0

    def __post_init__(self) -> None:
        plain_fields(self)  # numpy values (from an array or a DataFrame) as Python's
        kind = check_choice("kind", self.kind, DISTRIBUTION_KINDS)
        object.__setattr__(self, "kind", kind)
        top = _LARGEST_INT  # numpy draws int64; room is left to add a time to a draw
        check_int("value", self.value, maximum=top)
        check_int("low", self.low, maximum=top)
        check_int("high", self.high, maximum=top)
        check_number("mean", self.mean, maximum=_LARGEST)
        check_number("median", self.median, maximum=_LARGEST)
        check_number("sigma", self.sigma)
        check_int("maximum", self.maximum, maximum=top)
        if not isinstance(self.values, (tuple, list)):
            raise ScenarioError("values", f"must be a list of integers, got {self.values!r}")
        if not isinstance(self.weights, (tuple, list)):
            raise ScenarioError("weights", f"must be a list of numbers, got {self.weights!r}")
        values = tuple(check_int("values", v, maximum=top) for v in self.values)
        weights = tuple(check_number("weights", w) for w in self.weights)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "weights", weights)
        own = KIND_FIELDS[kind]
        for name in PARAMETERS:
            if name not in own and getattr(self, name) != _DEFAULTS[name]:
                raise ScenarioError(
                    name,
                    f"does not apply to a {kind} distribution (its fields: "
                    f"{', '.join(own + ('maximum',))}), got {getattr(self, name)!r}",
                )
        if kind == "uniform" and self.high < self.low:
            raise ScenarioError("high", f"must be >= low ({self.low}), got {self.high!r}")
        if kind == "exponential" and self.mean <= 0:
            raise ScenarioError("mean", f"must be > 0 for an exponential, got {self.mean!r}")
        if kind == "lognormal" and self.median <= 0:
            raise ScenarioError("median", f"must be > 0 for a lognormal, got {self.median!r}")
        if kind == "choice":
            if not values:
                raise ScenarioError("values", "must list at least one value for a choice")
            if weights and len(weights) != len(values):
                raise ScenarioError(
                    "weights",
                    f"must have one weight per value ({len(values)}), got {len(weights)}",
                )
            if weights and sum(weights) <= 0:
                raise ScenarioError("weights", f"must not all be zero, got {list(weights)}")

    @classmethod
    def constant(cls, value: int) -> Distribution:
        """Always ``value``."""
        return cls("constant", value=value)

    @classmethod
    def parse(cls, spec: Any) -> Distribution:
        """A distribution from a scenario value: a bare integer (a constant) or a table."""
        if isinstance(spec, Distribution):
            return spec
        if isinstance(spec, int) and not isinstance(spec, bool):
            return cls.constant(spec)
        if not isinstance(spec, dict):
            raise ScenarioError("", f"must be an integer or a table with a 'kind', got {spec!r}")
        if "kind" not in spec:
            raise ScenarioError(
                "kind", f"is missing: a distribution table names its kind, one of {list(DISTRIBUTION_KINDS)}"
            )
        known = set(cls.__dataclass_fields__)
        for name in spec:
            if name not in known:
                raise ScenarioError(
                    str(name), f"is not a distribution field; expected one of {sorted(known)}"
                )
        data = dict(spec)
        for name in ("values", "weights"):
            if name in data and isinstance(data[name], list):
                data[name] = tuple(data[name])
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        """The fields that matter for this kind, as plain values (the scenario-file form)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == "constant":
            out["value"] = self.value
        elif self.kind == "uniform":
            out.update(low=self.low, high=self.high)
        elif self.kind == "exponential":
            out["mean"] = self.mean
        elif self.kind == "lognormal":
            out.update(median=self.median, sigma=self.sigma)
        else:
            out["values"] = list(self.values)
            if self.weights:
                out["weights"] = list(self.weights)
        if self.maximum:
            out["maximum"] = self.maximum
        return out

    @property
    def is_constant(self) -> bool:
        """True when every draw gives the same number."""
        if self.kind == "constant":
            return True
        if self.kind == "uniform":
            return self.low == self.high
        if self.kind == "choice":
            return len(set(self.values)) == 1
        return False

    def first_value(self) -> int:
        """The value of a constant distribution (the first possible value otherwise)."""
        if self.kind == "uniform":
            v = self.low
        elif self.kind == "choice":
            v = self.values[0]
        else:
            v = self.value
        return min(v, self.maximum) if self.maximum else v

    def expected(self) -> float:
        """The mean of a draw (ignoring ``maximum`` for the unbounded kinds)."""
        if self.kind == "constant":
            v = float(self.value)
        elif self.kind == "uniform":
            v = (self.low + self.high) / 2
        elif self.kind == "exponential":
            v = self.mean
        elif self.kind == "lognormal":
            v = self.median * math.exp(self.sigma**2 / 2)
        else:
            w = np.asarray(self.weights or [1.0] * len(self.values), dtype=float)
            v = float(np.dot(w / w.sum(), np.asarray(self.values, dtype=float)))
        return min(v, float(self.maximum)) if self.maximum else v

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws as a non-negative int64 array, from ``rng`` only."""
        kind = self.kind
        if kind == "constant":
            out = np.full(n, self.value, dtype=np.int64)
        elif kind == "uniform":
            out = rng.integers(self.low, self.high + 1, size=n, dtype=np.int64)
        elif kind == "exponential":
            draws = rng.exponential(self.mean, size=n)
            out = np.rint(np.minimum(draws, _LARGEST)).astype(np.int64)
        elif kind == "lognormal":
            draws = rng.lognormal(math.log(self.median), self.sigma, size=n)
            out = np.rint(np.minimum(draws, _LARGEST)).astype(np.int64)
        else:
            vals = np.asarray(self.values, dtype=np.int64)
            if self.weights:
                w = np.asarray(self.weights, dtype=float)
                idx = rng.choice(len(vals), size=n, p=w / w.sum())
            else:
                idx = rng.integers(0, len(vals), size=n)
            out = vals[idx]
        if self.maximum:
            np.minimum(out, self.maximum, out=out)
        return out


_DEFAULTS: dict[str, Any] = {
    name: (f.default_factory() if f.default_factory is not MISSING else f.default)  # type: ignore[misc]
    for name, f in Distribution.__dataclass_fields__.items()
}
