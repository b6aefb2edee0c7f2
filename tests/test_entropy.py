"""ApEn against the naive formula and antropy; dataset-level scores on sources with known entropy."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srlaw.data.quality import (apen_per_sequence, approximate_entropy, approximate_entropy_naive, conditional_entropy,
                           markov_probe,
                           entropy_scores, lz_entropy_rate, pooled_apen)

antropy = pytest.importorskip("antropy", reason="antropy is the dev-extra test oracle (pip install -e '.[dev]')")


@settings(max_examples=150, deadline=None)
@given(seq=st.lists(st.integers(0, 6), min_size=4, max_size=40), m=st.integers(1, 4),
       r=st.sampled_from([-1.0, 0.0, 0.1, 0.2, 0.99, 1.0, 2.0, 3.5]), signed=st.booleans())
def test_apen_equals_naive_formula(seq, m, r, signed):
    fast = approximate_entropy(seq, m=m, r=r, signed=signed)
    slow = approximate_entropy_naive(seq, m=m, r=r, signed=signed)
    if math.isnan(slow):
        assert math.isnan(fast)
    else:
        assert fast == pytest.approx(slow, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(seq=st.lists(st.integers(0, 9), min_size=8, max_size=60), m=st.integers(2, 4),
       r=st.sampled_from([0.0, 0.2, 0.5, 1.0, 2.0]))
def test_apen_equals_antropy_signed(seq, m, r):
    # antropy returns the signed value Φ^m − Φ^(m+1) and needs order >= 2
    ours = approximate_entropy(seq, m=m, r=r, signed=True)
    theirs = antropy.app_entropy(np.asarray(seq, dtype=float), order=m, tolerance=r, metric="chebyshev")
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_published_convention_is_absolute_value():
    seq = [1, 2, 3, 4, 5, 6, 7]  # no repeats: Φ^m − Φ^(m+1) < 0 on short sequences
    signed = approximate_entropy(seq, signed=True)
    assert signed < 0 and approximate_entropy(seq) == pytest.approx(-signed)
    # a never-repeating user collapses to ln((L-m+1)/(L-m)), the degeneracy SCIENCE.md §2.4 describes
    assert approximate_entropy(seq, m=2) == pytest.approx(math.log(6 / 5))


def test_batched_per_sequence_matches_single():
    rng = np.random.default_rng(3)
    lengths = rng.integers(2, 50, 40)
    items = rng.integers(1, 8, lengths.sum())
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for r in (0.2, 1.5):
        batched = apen_per_sequence(items, offsets, m=2, r=r, window=30)
        for u in range(40):
            one = approximate_entropy_naive(items[offsets[u]:offsets[u + 1]][-30:], m=2, r=r)
            assert math.isnan(one) == math.isnan(batched[u])  # both undefined, or both defined and equal
            if not math.isnan(one):
                assert batched[u] == pytest.approx(one, abs=1e-12)


def test_pooled_apen_matches_naive_on_concatenated_templates():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1, 4, n) for n in (10, 7, 12)]
    items, offsets = np.concatenate(seqs), np.array([0, 10, 17, 29])
    phis = []
    for mm in (2, 3):
        grams = [tuple(s[i:i + mm]) for s in seqs for i in range(len(s) - mm + 1)]
        phis.append(np.mean([math.log(grams.count(g) / len(grams)) for g in grams]))
    assert pooled_apen(items, offsets, m=2) == pytest.approx(phis[0] - phis[1], abs=1e-12)


def _one_user(stream):
    return np.asarray(stream), np.array([0, len(stream)])


def test_conditional_entropy_deterministic_cycle_is_zero():
    items, off = _one_user(np.tile(np.arange(1, 51), 400))
    assert conditional_entropy(items, off, order=1) == pytest.approx(0.0, abs=1e-12)
    assert pooled_apen(items, off, m=1) == pytest.approx(0.0, abs=1e-3)
    assert lz_entropy_rate(items, off) < 0.2 * math.log(50)  # LZ78 converges as O(1/ln n): loose bound


def test_conditional_entropy_iid_uniform_is_log_n():
    n = 20
    items, off = _one_user(np.random.default_rng(1).integers(1, n + 1, 200_000))
    assert conditional_entropy(items, off, order=1) == pytest.approx(math.log(n), rel=0.01)
    assert conditional_entropy(items, off, order=0) == pytest.approx(math.log(n), rel=0.001)
    assert lz_entropy_rate(items, off) == pytest.approx(math.log(n), rel=0.35)


def test_miller_madow_reduces_plug_in_bias():
    n, true_h = 30, math.log(30)
    items, off = _one_user(np.random.default_rng(2).integers(1, n + 1, 6_000))  # few samples per context
    plug = conditional_entropy(items, off, order=1)
    mm = conditional_entropy(items, off, order=1, correction="miller-madow")
    assert plug < true_h - 0.05  # the plug-in visibly underestimates
    assert abs(mm - true_h) < abs(plug - true_h)


def test_entropy_scores_record_parameters():
    rng = np.random.default_rng(0)
    items = rng.integers(1, 30, 500)
    offsets = np.arange(0, 501, 25)
    s = entropy_scores(items, offsets, n_items=30, m=2, r=0.2, window=10)
    assert s["n_users"] == 20 and s["n_tokens"] == 200 and s["params"]["window"] == 10
    assert s["effective_data"]["apen_mean"] == pytest.approx(200 * s["apen_mean"] / math.log(30))


def test_cli_entropy_on_raw_file(tmp_path):
    p = tmp_path / "log.txt"
    p.write_text("".join(f"{u} {i}\n" for u in range(1, 6) for i in range(1, 9)))
    proc = subprocess.run([sys.executable, "-m", "srlaw.cli", "entropy", "--input", str(p), "--format", "sasrec",
                           "--m", "2", "--r", "0.2", "--window", "5"], capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout)
    assert out["n_users"] == 5 and out["n_items"] == 8 and out["n_tokens"] == 25
    assert out["apen_mean"] == pytest.approx(math.log(4 / 3))  # 5 distinct items, m = 2


def _markov_chain(n_states, n_steps, seed, concentration=0.3):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(n_states, concentration), size=n_states)
    evals, evecs = np.linalg.eig(P.T)
    pi = np.real(evecs[:, np.argmin(np.abs(evals - 1))])
    pi /= pi.sum()
    rate = float(-(pi[:, None] * P * np.log(np.where(P > 0, P, 1))).sum())
    cum = P.cumsum(1)
    x = np.empty(n_steps, dtype=np.int64)
    x[0] = 0
    u = rng.random(n_steps)
    for t in range(1, n_steps):
        x[t] = min(np.searchsorted(cum[x[t - 1]], u[t]), n_states - 1)
    return x + 1, rate


def test_conditional_entropy_of_known_markov_chain():
    x, rate = _markov_chain(8, 100_000, seed=0)
    items, off = _one_user(x)
    assert conditional_entropy(items, off, order=1) == pytest.approx(rate, rel=0.01)
    # few samples per context: the plug-in is visibly low, Miller–Madow lands closer to the truth
    x, rate = _markov_chain(40, 3_000, seed=1, concentration=1.0)
    items, off = _one_user(x)
    plug = conditional_entropy(items, off, order=1)
    mm = conditional_entropy(items, off, order=1, correction="miller-madow")
    assert plug < rate - 0.1 and abs(mm - rate) < abs(plug - rate)


def _users_from_chain(x, length):
    n = len(x) // length
    return x[: n * length], np.arange(0, n * length + 1, length)


def test_markov_probe_cross_entropy_approaches_rate_as_data_grows():
    x, rate = _markov_chain(30, 200_000, seed=2, concentration=0.5)
    small = markov_probe(*_users_from_chain(x[:3_000], 20), n_items=30)
    large = markov_probe(*_users_from_chain(x, 20), n_items=30)
    assert abs(large["markov_cross_entropy"] - rate) < 0.05
    assert abs(large["markov_cross_entropy"] - rate) < abs(small["markov_cross_entropy"] - rate)


def test_markov_probe_ranks_deterministic_data_perfectly_and_noise_at_chance():
    cycle = np.tile(np.arange(1, 101), 60)  # users each walk the same 100-item cycle from different starts
    items, off = _users_from_chain(np.roll(cycle, 7), 30)
    assert markov_probe(items, off, n_items=100)["markov_hr@10"] > 0.95
    noise = np.random.default_rng(0).integers(1, 101, 30_000)
    items, off = _users_from_chain(noise, 30)
    assert markov_probe(items, off, n_items=100)["markov_hr@10"] < 0.2  # chance is 10 / 100
