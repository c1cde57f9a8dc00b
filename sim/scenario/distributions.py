"""Named random distributions a scenario uses for job sizes, counts and task runtimes.

A `Distribution` is a frozen spec (the name, its parameters and an optional clip range) that draws
samples from a caller's `np.random.Generator`; it never owns randomness itself. `from_spec` turns
the scenario form (`{dist: uniform, low: 1, high: 5}`, or a bare number for a constant) into one,
raising a ScenarioError that names the offending key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import ScenarioError, did_you_mean

# Required parameters of each distribution, in the order they are written back.
PARAMS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "uniform": ("low", "high"),
    "exponential": ("mean",),
    "lognormal": ("mu", "sigma"),
    "normal": ("mean", "std"),
    "choice": ("values",),
    "pareto": ("shape", "scale"),
}
OPTIONAL = ("weights", "min", "max")


@dataclass(frozen=True, slots=True)
class Distribution:
    """A named distribution with its parameters; samples are clipped to [min, max] when given.

    Parameters: constant(value), uniform(low, high), exponential(mean), lognormal(mu, sigma of the
    underlying normal), normal(mean, std), choice(values, weights=None), pareto(shape, scale: the
    classic Pareto with minimum `scale`).
    """

    dist: str
    params: tuple[tuple[str, Any], ...]
    min: float | None = None
    max: float | None = None

    @classmethod
    def constant(cls, value: float) -> Distribution:
        """A distribution that always gives `value`."""
        return cls("constant", (("value", float(value)),))

    def param(self, key: str) -> Any:
        """The value of parameter `key` (None if absent)."""
        return dict(self.params).get(key)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw `n` float samples from `rng`."""
        values = _SAMPLERS[self.dist](dict(self.params), rng, n)
        if self.min is not None or self.max is not None:
            values = np.clip(values, self.min, self.max)
        return values

    def to_dict(self) -> dict[str, Any]:
        """The scenario form of this distribution."""
        out: dict[str, Any] = {"dist": self.dist}
        for key, value in self.params:
            out[key] = list(value) if isinstance(value, tuple) else value
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out


def _choice(p: dict[str, Any], rng: np.random.Generator, n: int) -> np.ndarray:
    weights = p.get("weights")
    probs = None if weights is None else np.asarray(weights, float) / float(sum(weights))
    return rng.choice(np.asarray(p["values"], float), size=n, p=probs)


_SAMPLERS: dict[str, Callable[[dict[str, Any], np.random.Generator, int], np.ndarray]] = {
    "constant": lambda p, rng, n: np.full(n, p["value"], float),
    "uniform": lambda p, rng, n: rng.uniform(p["low"], p["high"], n),
    "exponential": lambda p, rng, n: rng.exponential(p["mean"], n),
    "lognormal": lambda p, rng, n: rng.lognormal(p["mu"], p["sigma"], n),
    "normal": lambda p, rng, n: rng.normal(p["mean"], p["std"], n),
    "choice": _choice,
    "pareto": lambda p, rng, n: p["scale"] * (1.0 + rng.pareto(p["shape"], n)),
}


def _number(value: Any, path: str, convert: Callable[[Any], float] | None) -> float:
    """A finite float from a number, or from a string through `convert` (e.g. a duration)."""
    if isinstance(value, str) and convert is not None:
        try:
            return convert(value)
        except ValueError as exc:
            raise ScenarioError(path, str(exc)) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(path, f"expected a number, got {value!r}")
    return float(value)


def _number_list(value: Any, path: str, convert: Callable[[Any], float] | None) -> tuple[float, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise ScenarioError(path, f"expected a non-empty list of numbers, got {value!r}")
    return tuple(_number(v, f"{path}[{i}]", convert) for i, v in enumerate(value))


def _check_keys(spec: Mapping[str, Any], name: str, path: str) -> None:
    allowed = ("dist",) + PARAMS[name] + (OPTIONAL if name == "choice" else OPTIONAL[1:])
    for key in spec:
        if key not in allowed:
            raise ScenarioError(f"{path}.{key}", f"unknown parameter '{key}' for {name}{did_you_mean(key, allowed)}")
    for key in PARAMS[name]:
        if key not in spec:
            raise ScenarioError(f"{path}.{key}", f"{name} needs parameter '{key}'")


def _check_values(name: str, p: dict[str, Any], path: str) -> None:
    """Parameter ranges numpy would reject (or that make no sense for sizes and runtimes)."""
    rules = {
        "uniform": ("high", p.get("high", 0) >= p.get("low", 0), "must be >= low"),
        "exponential": ("mean", p.get("mean", 1) > 0, "must be > 0"),
        "lognormal": ("sigma", p.get("sigma", 0) >= 0, "must be >= 0"),
        "normal": ("std", p.get("std", 0) >= 0, "must be >= 0"),
        "pareto": ("shape", p.get("shape", 1) > 0 and p.get("scale", 1) > 0, "shape and scale must be > 0"),
    }
    if name in rules and not rules[name][1]:
        raise ScenarioError(f"{path}.{rules[name][0]}", rules[name][2])
    weights = p.get("weights")
    if weights is not None:
        if len(weights) != len(p["values"]):
            raise ScenarioError(f"{path}.weights", "needs one weight per value")
        if min(weights) < 0 or sum(weights) <= 0:
            raise ScenarioError(f"{path}.weights", "weights must be >= 0 with a positive sum")


def from_spec(
    spec: Any, path: str = "", convert: Callable[[Any], float] | None = None
) -> Distribution:
    """Build a Distribution from its scenario form.

    Args:
        spec: a number (a constant), a string accepted by `convert`, or a mapping with `dist`.
        path: the key path of `spec`, used in error messages.
        convert: turns string parameters into numbers (e.g. durations into seconds); without it
            strings are rejected.

    Raises:
        ScenarioError: naming `path` (or the parameter under it) and what is wrong.
    """
    if not isinstance(spec, Mapping):
        return Distribution.constant(_number(spec, path, convert))
    name = spec.get("dist")
    if name not in PARAMS:
        raise ScenarioError(f"{path}.dist", f"unknown distribution {name!r}{did_you_mean(name, PARAMS)}; one of {', '.join(PARAMS)}")
    _check_keys(spec, name, path)
    params: dict[str, Any] = {}
    for key in PARAMS[name] + ("weights",):
        if key in spec:
            is_list = key in ("values", "weights")
            parse = _number_list if is_list else _number
            params[key] = parse(spec[key], f"{path}.{key}", None if key == "weights" else convert)
    _check_values(name, params, path)
    lo = _number(spec["min"], f"{path}.min", convert) if spec.get("min") is not None else None
    hi = _number(spec["max"], f"{path}.max", convert) if spec.get("max") is not None else None
    if lo is not None and hi is not None and hi < lo:
        raise ScenarioError(f"{path}.max", f"max ({hi}) must be >= min ({lo})")
    ordered = tuple((k, params[k]) for k in PARAMS[name] + ("weights",) if k in params)
    return Distribution(name, ordered, lo, hi)
