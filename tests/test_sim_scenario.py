"""Tests for toolkit.sim.scenario: scenario files, their errors, overrides."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from toolkit import EvictionPolicy, StorageConfig
from toolkit.sim import (
    Distribution,
    Scenario,
    ScenarioError,
    find_key_line,
    load_scenario,
)

SCENARIOS = Path(__file__).resolve().parent.parent / "data" / "scenarios"
REQUIRED = {
    "ttl-vs-max-idle",
    "eviction-policies",
    "expiry-strategies",
    "write-through-vs-write-behind",
    "large",
    "flagship",
}


def test_every_shipped_scenario_loads_and_round_trips() -> None:
    names = {p.stem for p in SCENARIOS.glob("*.toml")}
    assert REQUIRED <= names
    for path in SCENARIOS.glob("*.toml"):
        scenario = load_scenario(path)
        assert scenario.name == path.stem
        assert scenario.source == str(path)
        assert Scenario.from_dict(scenario.to_dict()) == scenario


def test_flagship_is_the_instructive_run() -> None:
    s = load_scenario(SCENARIOS / "flagship.toml")
    assert s.workload.keys.kind == "zipf"
    assert s.workload.ttl_ms.expected() > 0 and s.workload.max_idle_ms.expected() > 0
    assert s.store.eviction_policy is EvictionPolicy.LRU and s.store.max_entry_count > 0
    assert s.data_store.kind == "write_behind" and s.data_store.inner == "sqlite"
    assert s.background.expiry_sweep_interval_ms > 0


def test_large_scenario_has_a_million_requests() -> None:
    assert load_scenario(SCENARIOS / "large.toml").workload.expected_requests == 1_000_000


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


BASE = """\
name = "x"

[workload]
seed = 1
duration_ms = 1_000

[workload.keys]
kind = "zipf"
alpha = 0.9

[store]
max_entry_count = 100
"""


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        (BASE.replace("alpha = 0.9", "alpha = -1"), "workload.keys.alpha", 9),
        (BASE.replace("alpha = 0.9", "alpah = 0.9"), "workload.keys.alpah", 9),
        (BASE.replace("max_entry_count = 100", "max_entry_count = -5"), "store.max_entry_count",
         12),
        (BASE.replace("max_entry_count = 100", 'eviction_policy = "mru"'),
         "store.eviction_policy", 12),
        (BASE.replace("seed = 1", 'seed = "one"'), "workload.seed", 4),
        (BASE + "\n[sampling]\ninterval_ms = 0\n", "sampling.interval_ms", 15),
        (BASE + "\n[caches]\nx = 1\n", "caches", 14),
        (BASE + '\n[workload.ttl_ms]\nkind = "uniform"\nlow = 9\nhigh = 3\n',
         "workload.ttl_ms.high", 17),
        (BASE + "\n[data_store]\nkind = 'redis'\n", "data_store.kind", 15),
        (BASE.replace('kind = "zipf"', 'kind = "shifting_hotset"'),
         "workload.keys.shift_every_ms", 7),
        (BASE + "\n[workload.value_bytes]\nlow = 256\nhigh = 4096\n", "workload.value_bytes.kind", 14),
        (BASE + '\n[workload.ttl_ms]\nkind = "constant"\nvalue = 5\nmean = 9.0\n',
         "workload.ttl_ms.mean", 17),
        ("workload = 5\n", "workload", 1),
        ('workload = "x"\n', "workload", 1),
    ],
)
def test_file_errors_name_key_and_line(tmp_path: Path, text: str, key: str, line: int) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    err = info.value
    assert err.key == key
    assert err.line == line
    assert str(err).startswith(f"{path}:{line}: {key}: ")


def test_an_unknown_key_suggests_the_closest_known_one(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="did you mean 'max_entry_count'"):
        load_scenario(_write(tmp_path, BASE.replace("max_entry_count = 100", "max_entry_cont = 100")))
    with pytest.raises(ScenarioError, match="did you mean 'workload'"):
        Scenario().with_overrides({"workloa.seed": 1})


def test_inline_tables_and_dotted_keys_are_located(tmp_path: Path) -> None:
    text = (
        'name = "x"\n'
        "[workload]\n"
        "seed = 1\n"
        "keys.kind = \"uniform\"\n"
        "keys.key_count = 0\n"
        "value_bytes = { kind = \"lognormal\", median = 0, sigma = 1.0 }\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, text))
    assert (info.value.key, info.value.line) == ("workload.keys.key_count", 5)
    fixed = text.replace("keys.key_count = 0", "keys.key_count = 10")
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, fixed))
    assert (info.value.key, info.value.line) == ("workload.value_bytes.median", 6)


def test_multiline_arrays_do_not_confuse_the_line_finder() -> None:
    text = "[workload.ttl_ms]\nkind = 'choice'\nvalues = [\n  1,\n  2,\n]\nweights = [1]\n"
    assert find_key_line(text, "workload.ttl_ms.values") == 3
    assert find_key_line(text, "workload.ttl_ms.weights") == 7
    assert find_key_line(text, "workload.ttl_ms.maximum") == 1  # absent: its table
    assert find_key_line(text, "store.x") is None


def test_toml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, 'name = "x"\n[workload\nseed = 1\n'))
    assert info.value.line == 2
    assert "invalid TOML" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_trace_paths_resolve_against_the_scenario_folder(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("0,put,a\n")
    text = '[workload.arrival]\nkind = "trace"\ntrace = "t.csv"\n'
    scenario = load_scenario(_write(tmp_path, text))
    assert scenario.workload.arrival.trace == str((tmp_path / "t.csv").resolve())
    # an override (--set) of the path is read against the scenario's folder too
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "u.csv").write_text("0,put,a\n")
    changed = scenario.with_overrides({"workload.arrival.trace": "sub/u.csv"})
    assert changed.workload.arrival.trace == str((tmp_path / "sub" / "u.csv").resolve())
    again = changed.with_overrides({"workload.seed": 2})
    assert again.workload.arrival.trace == changed.workload.arrival.trace


def test_with_overrides() -> None:
    base = Scenario()
    changed = base.with_overrides(
        {
            "store.max_entry_count": 2000,
            "store.eviction_policy": "lfu",
            "workload.seed": 4,
            "workload.ttl_ms": 5000,
            "workload.keys.kind": "zipf",
        }
    )
    assert changed.store == StorageConfig(max_entry_count=2000, eviction_policy=EvictionPolicy.LFU)
    assert changed.workload.seed == 4
    assert changed.workload.ttl_ms == Distribution.constant(5000)
    assert changed.workload.keys.kind == "zipf"
    assert base.workload.seed == 0  # unchanged
    # a field of a distribution given as a bare number
    again = changed.with_overrides({"workload.ttl_ms.value": 7000})
    assert again.workload.ttl_ms == Distribution.constant(7000)
    with pytest.raises(ScenarioError) as info:
        base.with_overrides({"store.max_entry_cout": 5})
    assert info.value.key == "store.max_entry_cout"
    with pytest.raises(ScenarioError) as info:
        base.with_overrides({"workload.seed.x": 5})
    assert info.value.key == "workload.seed"


def test_to_dict_is_valid_toml_data() -> None:
    scenario = load_scenario(SCENARIOS / "flagship.toml")
    data = scenario.to_dict()

    def dump(d: dict, prefix: str = "") -> list[str]:
        lines = [f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
                 for k, v in d.items() if not isinstance(v, dict)]
        for k, v in d.items():
            if isinstance(v, dict):
                lines += [f"[{prefix}{k}]", *dump(v, f"{prefix}{k}.")]
        return lines

    assert Scenario.from_dict(tomllib.loads("\n".join(dump(data)))) == scenario


def test_scenario_error_pickles() -> None:
    import pickle

    err = ScenarioError("a.b", "bad", "f.toml", 3)
    back = pickle.loads(pickle.dumps(err))
    assert (back.key, back.reason, back.source, back.line) == ("a.b", "bad", "f.toml", 3)
    assert str(back) == "f.toml:3: a.b: bad"
