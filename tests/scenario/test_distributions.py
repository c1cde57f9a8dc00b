"""Tests of sim.scenario.distributions: sampling, clipping, the scenario form and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from sim.errors import ScenarioError
from sim.scenario.distributions import Distribution, from_spec
from sim.scenario.load import parse_duration

N = 20_000


def rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_number_is_a_constant():
    """A bare number is a constant distribution."""
    d = from_spec(5)
    assert d == Distribution.constant(5) and d.sample(rng(), 3).tolist() == [5.0, 5.0, 5.0]


def test_uniform_stays_in_range_with_the_right_mean():
    """uniform(low, high) samples lie in [low, high) around the midpoint."""
    x = from_spec({"dist": "uniform", "low": 2, "high": 4}).sample(rng(), N)
    assert x.min() >= 2 and x.max() < 4 and abs(x.mean() - 3) < 0.05


def test_exponential_normal_lognormal_moments():
    """exponential(mean), normal(mean, std) and lognormal(mu, sigma) have their textbook moments."""
    assert abs(from_spec({"dist": "exponential", "mean": 10}).sample(rng(), N).mean() - 10) < 0.3
    x = from_spec({"dist": "normal", "mean": 5, "std": 2}).sample(rng(), N)
    assert abs(x.mean() - 5) < 0.05 and abs(x.std() - 2) < 0.05
    y = from_spec({"dist": "lognormal", "mu": 1.0, "sigma": 0.5}).sample(rng(), N)
    assert abs(np.median(y) - np.e) < 0.05


def test_pareto_is_classic_with_minimum_scale():
    """pareto(shape, scale) never goes below scale and has mean shape*scale/(shape-1)."""
    x = from_spec({"dist": "pareto", "shape": 3, "scale": 2}).sample(rng(), N)
    assert x.min() >= 2 and abs(x.mean() - 3.0) < 0.1


def test_choice_follows_weights():
    """choice picks only from values, in proportion to the weights."""
    x = from_spec({"dist": "choice", "values": [1, 2], "weights": [1, 3]}).sample(rng(), N)
    assert set(np.unique(x)) == {1.0, 2.0} and abs((x == 2).mean() - 0.75) < 0.02


def test_min_and_max_clip_samples():
    """min/max clip every sample into range."""
    x = from_spec({"dist": "normal", "mean": 0, "std": 10, "min": -1, "max": 1}).sample(rng(), 1000)
    assert x.min() == -1 and x.max() == 1


def test_same_generator_seed_gives_same_samples():
    """Samples depend only on the generator passed in."""
    d = from_spec({"dist": "exponential", "mean": 3})
    assert np.array_equal(d.sample(rng(7), 50), d.sample(rng(7), 50))


def test_duration_parameters_with_a_converter():
    """With a duration converter, string parameters are seconds."""
    d = from_spec({"dist": "uniform", "low": "1m", "high": "2h"}, "x", parse_duration)
    assert (d.param("low"), d.param("high")) == (60.0, 7200.0)
    assert from_spec("90s", "x", parse_duration) == Distribution.constant(90)


def test_to_dict_round_trips():
    """to_dict gives the scenario form, which builds the same distribution."""
    for spec in ({"dist": "choice", "values": [1, 2], "weights": [2, 1]}, {"dist": "lognormal", "mu": 1, "sigma": 2, "min": 0}):
        d = from_spec(spec)
        assert from_spec(d.to_dict()) == d


@pytest.mark.parametrize(
    "spec, path, words",
    [
        ({"dist": "unifrom", "low": 1, "high": 2}, "r.dist", "did you mean 'uniform'"),
        ({"dist": "uniform", "low": 1}, "r.high", "needs parameter 'high'"),
        ({"dist": "uniform", "low": 1, "high": 2, "mean": 3}, "r.mean", "unknown parameter"),
        ({"dist": "uniform", "low": 3, "high": 2}, "r.high", "must be >= low"),
        ({"dist": "normal", "mean": 1, "std": -1}, "r.std", "must be >= 0"),
        ({"dist": "exponential", "mean": "10s"}, "r.mean", "expected a number"),
        ({"dist": "choice", "values": []}, "r.values", "non-empty list"),
        ({"dist": "choice", "values": [1, 2], "weights": [1]}, "r.weights", "one weight per value"),
        ({"dist": "choice", "values": [1], "weights": [-1]}, "r.weights", "positive sum"),
        ({"dist": "pareto", "shape": 0, "scale": 1}, "r.shape", "must be > 0"),
        ({"dist": "constant", "value": 1, "min": 5, "max": 1}, "r.max", "must be >= min"),
        ({"dist": "constant", "value": True}, "r.value", "expected a number"),
        ("ten", "r", "expected a number"),
    ],
)
def test_bad_specs_raise_scenario_errors_naming_the_parameter(spec, path, words):
    """Every bad spec is a ScenarioError at the parameter's key path."""
    with pytest.raises(ScenarioError) as info:
        from_spec(spec, "r")
    assert info.value.path == path and words in str(info.value)
