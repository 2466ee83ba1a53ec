"""Tests for toolkit.sim.workload and toolkit.sim.distributions: the request model."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toolkit.sim import Arrival, Distribution, KeyPopularity, Scenario, ScenarioError, Workload, read_trace
from toolkit.sim.distributions import KIND_FIELDS
from toolkit.sim.workload import RequestStream, client_streams, zipf_cdf


def _requests(workload: Workload, n: int, client: int = 0) -> dict[str, list]:
    """The first ``n`` requests of one client, as lists."""
    streams = client_streams(workload, np.random.SeedSequence(workload.seed))
    stream = streams[client]
    out: dict[str, list] = {"gaps": [], "keys": [], "reads": [], "values": [], "ttls": []}
    for block in stream:
        for name in out:
            out[name].extend(itertools.islice(getattr(block, name), stream.block_size))
        if len(out["keys"]) >= n:
            break
    return {k: v[:n] for k, v in out.items()}


# --- distributions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "gamma"}, "kind"),
        ({"kind": "constant", "value": -1}, "value"),
        ({"kind": "uniform", "low": 10, "high": 5}, "high"),
        ({"kind": "exponential", "mean": 0}, "mean"),
        ({"kind": "lognormal", "median": 0}, "median"),
        ({"kind": "choice"}, "values"),
        ({"kind": "choice", "values": (1, 2), "weights": (1.0,)}, "weights"),
        ({"kind": "choice", "values": (1, 2), "weights": (0.0, 0.0)}, "weights"),
        ({"kind": "constant", "value": 1.5}, "value"),
    ],
)
def test_distribution_errors_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        Distribution(**kwargs)
    assert info.value.key == field
    assert field in str(info.value)


def test_a_field_of_another_kind_or_a_missing_kind_is_refused_by_name() -> None:
    # Each would be silently ignored: a uniform's bounds on a constant, a mean on a uniform.
    for kwargs, name in [
        ({"kind": "constant", "low": 256, "high": 4096}, "low"),
        ({"kind": "uniform", "value": 5}, "value"),
        ({"kind": "exponential", "mean": 5.0, "sigma": 1.0}, "sigma"),
        ({"kind": "choice", "values": (1,), "median": 3.0}, "median"),
    ]:
        with pytest.raises(ScenarioError, match=f"does not apply to a {kwargs['kind']} distribution") as info:
            Distribution(**kwargs)
        assert info.value.key == name
    with pytest.raises(ScenarioError, match="kind.*is missing") as info:
        Distribution.parse({"low": 256, "high": 4096})
    assert info.value.key == "kind"
    assert Distribution.parse({"kind": "uniform", "low": 1, "high": 2, "maximum": 2}).maximum == 2


def test_overrides_change_a_distributions_kind_and_refuse_a_foreign_field() -> None:
    base = Scenario(workload=Workload(ttl_ms=Distribution.constant(500)))
    changed = base.with_overrides({"workload.ttl_ms.low": 100, "workload.ttl_ms.high": 200,
                                   "workload.ttl_ms.kind": "uniform"})
    assert changed.workload.ttl_ms == Distribution("uniform", low=100, high=200)
    with pytest.raises(ScenarioError, match="mean.*does not apply to a constant"):
        base.with_overrides({"workload.ttl_ms.mean": 500})


def test_distribution_parse_accepts_a_bare_integer_and_refuses_unknown_fields() -> None:
    assert Distribution.parse(500) == Distribution.constant(500)
    with pytest.raises(ScenarioError, match="medain"):
        Distribution.parse({"kind": "lognormal", "medain": 5})
    with pytest.raises(ScenarioError, match="must be an integer or a table"):
        Distribution.parse("big")


@given(
    kind=st.sampled_from(["constant", "uniform", "exponential", "lognormal", "choice"]),
    seed=st.integers(0, 2**32 - 1),
    cap=st.integers(0, 5000),
)
def test_distribution_samples_are_non_negative_ints_within_the_cap(
    kind: str, seed: int, cap: int
) -> None:
    params: dict[str, Any] = {
        "value": 300, "low": 10, "high": 900, "mean": 400.0, "median": 300.0, "sigma": 1.0,
        "values": (0, 100, 10_000),
    }
    dist = Distribution(kind, maximum=cap, **{k: params[k] for k in KIND_FIELDS[kind] if k in params})
    draws = dist.sample(np.random.default_rng(seed), 200)
    assert draws.dtype == np.int64 and len(draws) == 200
    assert (draws >= 0).all()
    if cap:
        assert (draws <= cap).all()


def test_huge_unbounded_draws_are_capped_not_wrapped() -> None:
    rng = np.random.default_rng(0)
    top = float(2**62)  # the largest mean or median accepted: its tail draws go beyond it
    for dist in (Distribution("exponential", mean=top), Distribution("lognormal", median=top, sigma=1.0)):
        draws = dist.sample(rng, 1000)
        assert (draws > 0).all() and (draws <= 2**62).all() and (draws == 2**62).any()


def test_values_beyond_the_int64_draws_are_refused_by_name() -> None:
    for build, key in (
        (lambda: Distribution("exponential", mean=1e30), "mean"),
        (lambda: Distribution("uniform", low=0, high=2**63), "high"),
        (lambda: Distribution("choice", values=(1, 2**70)), "values"),
        (lambda: KeyPopularity(kind="zipf", key_count=10**12), "key_count"),
    ):
        with pytest.raises(ScenarioError) as info:
            build()
        assert info.value.key == key


def test_distribution_means_match_expected() -> None:
    rng = np.random.default_rng(1)
    for dist in (
        Distribution("uniform", low=100, high=300),
        Distribution("exponential", mean=250.0),
        Distribution("lognormal", median=1000.0, sigma=0.5),
        Distribution("choice", values=(0, 1000), weights=(3.0, 1.0)),
    ):
        assert dist.sample(rng, 100_000).mean() == pytest.approx(dist.expected(), rel=0.03)


# --- workload validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Arrival(kind="bursty"), "kind"),
        (lambda: Arrival(rate_per_s=0), "rate_per_s"),
        (lambda: Arrival(kind="trace"), "trace"),
        (lambda: KeyPopularity(kind="zipf", alpha=0), "alpha"),
        (lambda: KeyPopularity(key_count=0), "key_count"),
        (lambda: KeyPopularity(hot_fraction=1.5), "hot_fraction"),
        (lambda: KeyPopularity(kind="shifting_hotset"), "shift_every_ms"),
        (lambda: KeyPopularity(kind="hotset", shift_every_ms=1000), "shift_every_ms"),
        (lambda: KeyPopularity(kind="uniform", alpha=2.0), "alpha"),
        (lambda: KeyPopularity(kind="unique", key_count=50), "key_count"),
        (lambda: Arrival(kind="poisson", trace="t.csv"), "trace"),
        (lambda: Workload(clients=0), "clients"),
        (lambda: Workload(read_fraction=1.2), "read_fraction"),
        (lambda: Workload(duration_ms=0), "duration_ms"),
        (lambda: Workload(seed=-3), "seed"),
        (lambda: Workload(write_on_miss=1), "write_on_miss"),  # type: ignore[arg-type]
        (lambda: Workload(ttl_ms=5000), "ttl_ms"),  # type: ignore[arg-type]
    ],
)
def test_workload_errors_name_the_field_and_value(build, field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        build()
    assert info.value.key == field


# --- request streams ---------------------------------------------------------------------------


def test_poisson_gaps_have_the_right_mean_per_client() -> None:
    w = Workload(arrival=Arrival(rate_per_s=1000), clients=4, seed=3)
    gaps = np.array(_requests(w, 20_000)["gaps"])
    assert gaps.mean() == pytest.approx(4.0, rel=0.03)  # 4 clients share 1000/s: 4 ms each


def test_constant_arrivals_interleave_clients_evenly() -> None:
    w = Workload(arrival=Arrival(kind="constant", rate_per_s=100), clients=4)
    firsts = [_requests(w, 3, client=c)["gaps"] for c in range(4)]
    assert [g[0] for g in firsts] == [10.0, 20.0, 30.0, 40.0]
    assert all(g[1:] == [40.0, 40.0] for g in firsts)


@pytest.mark.parametrize(("rate", "duration", "clients"), [(1e7, 5, 1), (3000, 1000, 3), (7, 1000, 2)])
def test_constant_arrivals_land_exactly_on_their_times(rate: float, duration: int, clients: int) -> None:
    # A running sum of 1/3 ms gaps drifts: the request due at the very end could fall out of
    # the run. Every request is due at an exact multiple of the period.
    from toolkit.sim import Sampling, Scenario, run

    scenario = Scenario(
        workload=Workload(arrival=Arrival(kind="constant", rate_per_s=rate), duration_ms=duration,
                          clients=clients, keys=KeyPopularity(key_count=10)),
        sampling=Sampling(interval_ms=duration),
    )
    result = run(scenario, record_operations=True)
    assert result.summary["requests"] == round(rate * duration / 1000)
    assert result.operations is not None and result.operations["time_ms"].max() == duration


def test_zipf_keys_follow_the_law() -> None:
    w = Workload(keys=KeyPopularity(kind="zipf", key_count=1000, alpha=1.0), seed=5)
    keys = np.array(_requests(w, 60_000)["keys"])
    assert keys.min() >= 0 and keys.max() < 1000
    counts = np.bincount(keys, minlength=1000)
    harmonic = (1.0 / np.arange(1, 1001)).sum()
    assert counts[0] / len(keys) == pytest.approx(1 / harmonic, rel=0.05)
    assert counts[0] / counts[1] == pytest.approx(2.0, rel=0.1)
    cdf = zipf_cdf(1000, 1.0)
    assert cdf[-1] == pytest.approx(1.0) and (np.diff(cdf) > 0).all()


def test_hotset_sends_the_hot_probability_to_the_hot_keys() -> None:
    w = Workload(keys=KeyPopularity(kind="hotset", key_count=10_000, hot_fraction=0.01,
                                    hot_probability=0.8))
    keys = np.array(_requests(w, 20_000)["keys"])
    assert (keys < 100).mean() == pytest.approx(0.8, abs=0.02)


def test_scan_and_unique_keys() -> None:
    scan = Workload(keys=KeyPopularity(kind="scan", key_count=5), clients=1)
    assert _requests(scan, 7)["keys"] == [0, 1, 2, 3, 4, 0, 1]
    unique = Workload(keys=KeyPopularity(kind="unique"), clients=3)
    seen = [k for c in range(3) for k in _requests(unique, 1000, client=c)["keys"]]
    assert len(set(seen)) == 3000


def test_same_seed_same_stream_and_streams_are_independent() -> None:
    w = Workload(keys=KeyPopularity(kind="zipf", key_count=500), read_fraction=0.5,
                 value_bytes=Distribution("uniform", low=1, high=100), seed=9)
    assert _requests(w, 5000) == _requests(w, 5000)
    other_seed = Workload(keys=w.keys, read_fraction=0.5, value_bytes=w.value_bytes, seed=10)
    assert _requests(other_seed, 100)["keys"] != _requests(w, 100)["keys"]
    # changing the read mix changes the operations only: keys, gaps and sizes stay the same
    more_reads = Workload(keys=w.keys, read_fraction=0.9, value_bytes=w.value_bytes, seed=9)
    a, b = _requests(w, 2000), _requests(more_reads, 2000)
    assert a["keys"] == b["keys"] and a["gaps"] == b["gaps"] and a["values"] == b["values"]
    assert a["reads"] != b["reads"]


def test_blocks_are_plain_python_values() -> None:
    w = Workload(keys=KeyPopularity(kind="uniform", key_count=10),
                 ttl_ms=Distribution("choice", values=(0, 500)))
    stream = client_streams(w, np.random.SeedSequence(0))[0]
    assert isinstance(stream, RequestStream)
    block = stream.next_block()
    assert isinstance(block.gaps, list) and isinstance(block.gaps[0], float)
    assert isinstance(block.keys[0], int) and isinstance(block.reads[0], bool)
    assert set(block.ttls) <= {0, 500}


# --- traces ----------------------------------------------------------------------------------------


def test_read_trace(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("time_ms,op,key\n# a comment\n0,put,a\n5,get,a\n\n7.5,GET,42\n")
    trace = read_trace(p)
    assert trace.times_ms == [0.0, 5.0, 7.5]
    assert trace.keys == ["a", "a", 42]
    assert trace.reads == [False, True, True]
    assert trace.value_bytes is None and len(trace) == 3
    p.write_text("# exported from somewhere\n\ntime_ms,op,key\n1,get,b\n")  # header after a comment
    assert read_trace(p).keys == ["b"]


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("0,put,a\nx,get,a\n", 2, "time_ms must be a number"),
        ("0,put,a\n5,del,a\n", 2, "op must be get or put"),
        ("0,put,a\n5,get\n", 2, "expected time_ms,op,key"),
        ("9,put,a\n5,get,a\n", 2, "must not decrease"),
        ("0,put,a,10\n5,get,a\n", 2, "same number of fields"),
        ("0,put,a,-4\n", 1, "value_bytes"),
        ("-5,put,a\n", 1, "time_ms must be a finite number >= 0, got -5"),
        ("inf,put,a\n", 1, "time_ms must be a finite number >= 0, got inf"),
        ("0,put,a\ntime_ms,op,key\n", 2, "time_ms must be a number"),
    ],
)
def test_trace_errors_name_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(ScenarioError) as info:
        read_trace(p)
    assert f"bad.csv:{line}:" in str(info.value)
    assert words in str(info.value)
    assert info.value.key == "workload.arrival.trace"


def test_missing_trace_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read trace"):
        read_trace(tmp_path / "nope.csv")


def test_a_new_key_or_arrival_kind_drops_the_old_kinds_fields() -> None:
    from toolkit.sim import Scenario

    base = Scenario(workload=Workload(keys=KeyPopularity(kind="shifting_hotset", key_count=500,
                                                         hot_fraction=0.2, shift_every_ms=100)))
    zipf = base.with_overrides({"workload.keys.kind": "zipf", "workload.keys.alpha": 1.5})
    assert zipf.workload.keys == KeyPopularity(kind="zipf", key_count=500, alpha=1.5)
    with pytest.raises(ScenarioError, match="does not apply to hotset keys"):
        zipf.with_overrides({"workload.keys.kind": "hotset", "workload.keys.alpha": 1.5})
