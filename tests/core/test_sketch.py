"""LatencySketch: accuracy against numpy, exact merging, wire format validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nic_edge.core.sketch import LatencySketch, merge_all


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    return {
        "lognormal": rng.lognormal(mean=-3.0, sigma=1.0, size=100_000),
        "uniform": rng.uniform(0.001, 2.0, size=100_000),
        # 70/30 mix: no percentile under test falls into the gap between the modes.
        "bimodal": np.concatenate([np.abs(rng.normal(0.02, 0.003, 70_000)) + 1e-4,
                                   rng.normal(0.5, 0.05, 30_000)]),
    }


def _sketch(values) -> LatencySketch:
    sk = LatencySketch()
    for v in values:
        sk.add(float(v))
    return sk


@pytest.mark.parametrize("kind", ["lognormal", "uniform", "bimodal"])
def test_percentiles_within_2_percent_of_numpy(kind: str) -> None:
    data = _data()[kind]
    sk = _sketch(data.tolist())
    got = sk.percentiles()
    for key, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        want = float(np.percentile(data, q))
        assert abs(got[key] - want) / want <= 0.02, (kind, key, got[key], want)
    assert sk.count == len(data)
    assert sk.sum == pytest.approx(float(data.sum()), rel=1e-9)
    assert sk.min == float(data.min()) and sk.max == float(data.max())
    assert sk.quantile(0.0) == sk.min and sk.quantile(1.0) == sk.max


def test_merge_equals_sketch_of_concatenated_data() -> None:
    data = _data()
    a, b = data["lognormal"].tolist(), data["bimodal"].tolist()
    merged = _sketch(a)
    merged.merge(_sketch(b))
    whole = _sketch(a + b)
    assert merged.bins == whole.bins
    assert (merged.zero, merged.count, merged.min, merged.max) == (whole.zero, whole.count, whole.min, whole.max)
    assert merged.sum == pytest.approx(whole.sum, rel=1e-12)
    qs = [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999]
    assert merged.quantiles(qs) == whole.quantiles(qs)
    fleet = merge_all([_sketch(a[:10]), _sketch(a[10:])])
    assert fleet.bins == _sketch(a).bins


def test_merge_rejects_other_gamma() -> None:
    with pytest.raises(ValueError, match="gamma"):
        LatencySketch(0.01).merge(LatencySketch(0.02))


def test_empty_zero_and_bad_values() -> None:
    sk = LatencySketch()
    assert sk.percentiles() == {"p50": None, "p95": None, "p99": None}
    assert sk.quantile(0.5) is None
    for v in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(ValueError):
            sk.add(v)
    assert sk.count == 0
    sk.add(0.0)
    sk.add(-1.0)  # clock skew: counted in the zero bucket
    sk.add(1.0)
    assert sk.zero == 2 and sk.count == 3
    assert sk.quantile(0.0) == -1.0 and sk.quantile(0.4) == 0.0
    assert sk.quantile(1.0) == 1.0
    with pytest.raises(ValueError):
        sk.quantile(1.5)


def test_unsorted_quantiles_and_single_value() -> None:
    sk = _sketch([0.25])
    assert sk.percentiles() == {"p50": 0.25, "p95": 0.25, "p99": 0.25}
    sk = _sketch(np.linspace(0.001, 1, 1000).tolist())
    assert sk.quantiles([0.99, 0.5]) == list(reversed(sk.quantiles([0.5, 0.99])))


def test_memory_is_bounded_by_collapsing_low_buckets() -> None:
    sk = LatencySketch(rel_err=0.01, max_bins=64)
    values = [10 ** (i / 100) for i in range(-900, 900)]  # 18 decades: far more than 64 buckets
    for v in values:
        sk.add(v)
    assert len(sk.bins) == 64
    assert sk.count == len(values)
    assert sum(sk.bins.values()) + sk.zero == len(values)
    true_p99 = float(np.percentile(values, 99))
    assert abs(sk.quantile(0.99) - true_p99) / true_p99 <= 0.02  # high quantiles stay exact


def test_to_dict_roundtrip_through_json() -> None:
    sk = _sketch(_data()["lognormal"][:5000].tolist() + [0.0])
    d = json.loads(json.dumps(sk.to_dict()))
    assert set(d) == {"v", "g", "b", "z", "n", "s", "mn", "mx"}
    back = LatencySketch.from_dict(d)
    assert back.bins == sk.bins and back.count == sk.count and back.zero == 1
    assert back.percentiles() == sk.percentiles()
    back.merge(sk)  # same gamma after the round trip
    empty = LatencySketch.from_dict(json.loads(json.dumps(LatencySketch().to_dict())))
    assert empty.count == 0 and empty.quantile(0.5) is None


def _good() -> dict:
    return _sketch([0.01, 0.02, 0.5]).to_dict()


@pytest.mark.parametrize("mutate", [
    lambda d: "not a dict",
    lambda d: {**d, "v": 2},
    lambda d: {**d, "v": True},
    lambda d: {**d, "extra": 1},
    lambda d: {**d, "g": "1.02"},
    lambda d: {**d, "g": 0.5},
    lambda d: {**d, "g": float("nan")},
    lambda d: {**d, "g": 1e9},
    lambda d: {**d, "b": []},
    lambda d: {**d, "b": {"x": 1}},
    lambda d: {**d, "b": {"1.5": 1}},
    lambda d: {**d, "b": {"99999999": 1}},
    lambda d: {**d, "b": {**d["b"], "7": 0}},
    lambda d: {**d, "b": {**d["b"], "7": -1}},
    lambda d: {**d, "b": {**d["b"], "7": 1.0}},
    lambda d: {**d, "b": {**d["b"], "7": True}},
    lambda d: {**d, "b": {str(i): 1 for i in range(9000)}},
    lambda d: {**d, "z": -1},
    lambda d: {**d, "n": d["n"] + 1},
    lambda d: {**d, "s": float("inf")},
    lambda d: {**d, "s": None},
    lambda d: {**d, "mn": None},
    lambda d: {**d, "mn": 1.0, "mx": 0.5},
    lambda d: {**d, "mx": "big"},
    lambda d: {k: v for k, v in d.items() if k != "n"},
])
def test_from_dict_rejects_bad_input(mutate) -> None:
    with pytest.raises(ValueError):
        LatencySketch.from_dict(mutate(_good()))


def test_from_dict_accepts_integer_keys_from_msgpack() -> None:
    d = _good()
    d["b"] = {int(k): c for k, c in d["b"].items()}
    assert LatencySketch.from_dict(d).count == 3


def test_alpha_and_gamma() -> None:
    sk = LatencySketch(0.01)
    assert sk.gamma == pytest.approx(1.01 / 0.99)
    assert sk.alpha == pytest.approx(0.01)
    for bad in (0, 1, -0.1, 2):
        with pytest.raises(ValueError):
            LatencySketch(bad)
    assert not math.isnan(sk.gamma)


# -- compact wire form (v2): what MQTT snapshots and the aggregator's store carry ----------------
def test_compact_roundtrip_matches_v1() -> None:
    sk = _sketch(_data()["lognormal"][:5000].tolist() + [0.0])
    c = json.loads(json.dumps(sk.to_compact()))
    assert set(c) == {"v", "g", "k", "c", "z", "n", "s", "mn", "mx"} and c["v"] == 2
    assert c["k"][0] == min(sk.bins) and all(d > 0 for d in c["k"][1:])  # first key, then deltas
    back = LatencySketch.from_dict(c)
    v1 = LatencySketch.from_dict(json.loads(json.dumps(sk.to_dict())))
    assert back.bins == v1.bins == sk.bins and back.zero == 1 and back.count == sk.count
    assert back.percentiles() == sk.percentiles() == v1.percentiles()
    assert len(json.dumps(c)) < len(json.dumps(sk.to_dict()))
    back.merge(sk)  # same gamma after the round trip
    assert back.count == 2 * sk.count
    empty = LatencySketch.from_dict(json.loads(json.dumps(LatencySketch().to_compact())))
    assert empty.count == 0 and empty.quantile(0.5) is None and empty.to_compact()["k"] == []


def test_copy_is_independent() -> None:
    sk = _sketch([0.01, 0.02, 0.5])
    cp = sk.copy()
    cp.add(3.0)
    cp.merge(_sketch([0.01]))
    assert sk.count == 3 and cp.count == 5 and sk.bins != cp.bins
    assert sk.quantile(1.0) == 0.5 and cp.quantile(1.0) == 3.0


def _good_v2() -> dict:
    return _sketch([0.01, 0.02, 0.02, 0.5]).to_compact()


@pytest.mark.parametrize("mutate", [
    lambda d: {**d, "b": {"1": 1}},                     # v1 key in a v2 sketch
    lambda d: {**d, "k": d["k"][:-1]},                  # lengths differ
    lambda d: {**d, "k": {"0": 1}},
    lambda d: {**d, "c": "1,2"},
    lambda d: {**d, "k": [float(x) for x in d["k"]]},
    lambda d: {**d, "k": [True] + d["k"][1:]},
    lambda d: {**d, "c": [True] + d["c"][1:]},
    lambda d: {**d, "c": [0] + d["c"][1:]},
    lambda d: {**d, "c": [-1] + d["c"][1:]},
    lambda d: {**d, "k": d["k"][:1] + [0] + d["k"][2:]},   # repeated key (delta 0)
    lambda d: {**d, "k": d["k"][:1] + [-3] + d["k"][2:]},  # keys not ascending
    lambda d: {**d, "k": [10 ** 6] + d["k"][1:]},          # out of range
    lambda d: {**d, "k": list(range(1, 9002)), "c": [1] * 9001},  # too many buckets
    lambda d: {**d, "n": d["n"] + 1},
    lambda d: {**d, "z": 1},
    lambda d: {**d, "mn": None},
    lambda d: {**d, "g": True},
    lambda d: {**d, "v": 3},
])
def test_compact_from_dict_rejects_bad_input(mutate) -> None:
    LatencySketch.from_dict(_good_v2())  # the unmutated one is fine
    with pytest.raises(ValueError):
        LatencySketch.from_dict(mutate(_good_v2()))


@pytest.mark.parametrize("values, qs, expect", [
    ([0.010, 0.020], (0.5, 0.95, 0.99), (0.010, 0.020, 0.020)),
    ([0.001] * 79 + [0.045], (0.5, 0.95, 0.99), (0.001, 0.001, 0.045)),
    ([i / 1000 for i in range(1, 11)], (0.5, 0.95), (0.005, 0.010)),
    ([i / 1000 for i in range(1, 101)], (0.5, 0.95, 0.99), (0.050, 0.095, 0.099)),
])
def test_small_windows_give_the_nearest_rank_sample(values, qs, expect) -> None:
    # a window of a few dozen answers is what the status page and the p95 alert read: the
    # slowest answers must not be hidden by the rank convention
    s = LatencySketch()
    for v in values:
        s.add(v)
    for got, want in zip(s.quantiles(list(qs)), expect):
        assert got == pytest.approx(want, rel=0.011)
