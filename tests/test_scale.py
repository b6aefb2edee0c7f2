"""The data path at scale: the vectorised readers read what the line readers read, the linear scores equal their
definitions, per-user Parquet sequences read like any log, and the scale benchmark runs and matches its page."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srlaw.core.errors import DataError
from srlaw.data import scan
from srlaw.data.dataset import build_dataset
from srlaw.data.protocol import MISS_RANK, filter_seen_, left_pad, target_ranks, training_ends
from srlaw.data.quality import _transition_csr, lz_entropy_rate, markov_ranks
from srlaw.data.readers import Interactions, InputFormatError, read_interactions
from srlaw.library.catalogue import CATALOGUE, DATA_ROOT

ROOT = Path(__file__).resolve().parents[1]
MLS = ROOT / "data" / "ml-latest-small" / "ratings.csv"


def outcome(path, fmt):
    try:
        raw = read_interactions(path, fmt)
    except InputFormatError as e:
        return ("error", str(e))
    return ("ok", raw.user.tolist(), raw.item.tolist(),
            None if raw.timestamp is None else raw.timestamp.tolist(), None if raw.rating is None else raw.rating.tolist())


@pytest.fixture
def line_reader(monkeypatch):
    """Every chunk parsed line by line: the readers as they were before the vectorised path."""
    def use():
        monkeypatch.setattr(scan, "whitespace_fields", lambda *a, **k: None)
        monkeypatch.setattr(scan, "delimited_fields", lambda *a, **k: None)
    return use


def random_file(rng: random.Random, fmt: str) -> bytes:
    """A small file of the format, mostly well formed, with the odd hostile field, blank line, BOM or CRLF."""
    odd = ["-1", "1.5", " 4", "x", "", "99999999999999999999", "1e3", "4.", ".5", "\u00e9", '"3"', "3\r", "1_0", "\uff11"]

    def field(number=False):
        if rng.random() < 0.88:
            return f"{rng.randint(0, 99)}.{rng.randint(0, 99)}" if number and rng.random() < 0.5 else \
                str(rng.randint(0, 10 ** rng.randint(1, 12)))
        return rng.choice(odd)

    lines = ["userId,movieId,rating,timestamp"] if fmt == "movielens-csv" else []
    for _ in range(rng.randint(0, 25)):
        if rng.random() < 0.05:
            lines.append("")
        elif fmt == "sasrec":
            lines.append(rng.choice([" ", "\t", "  "]).join(field() for _ in range(2 if rng.random() < 0.95 else 3)))
        elif fmt == "s3rec":
            lines.append(" ".join(field() for _ in range(rng.randint(1, 6))))
        else:
            sep = {"movielens-dat": "::", "movielens-100k": "\t", "movielens-csv": ","}[fmt]
            if rng.random() < 0.03:
                sep = rng.choice([":", ":::", ";"])
            cols = [field(), field(), field(True), field(True), "title"][:4 if rng.random() < 0.95 else rng.randint(3, 5)]
            lines.append(sep.join(cols))
    end = rng.choice(["\n", "\r\n"])
    text = ("\ufeff" if rng.random() < 0.1 else "") + end.join(lines) + (end if rng.random() < 0.7 else "")
    data = text.encode()
    if rng.random() < 0.03 and data:
        at = rng.randrange(len(data))
        data = data[:at] + b"\xff" + data[at:]
    return data


@pytest.mark.parametrize("seed", range(4))
def test_the_vectorised_readers_read_what_the_line_readers_read(tmp_path, monkeypatch, line_reader, seed):
    rng = random.Random(seed)
    cases = []
    for i in range(150):
        fmt = rng.choice(["sasrec", "s3rec", "movielens-dat", "movielens-100k", "movielens-csv"])
        path = tmp_path / f"{i}.txt"
        path.write_bytes(random_file(rng, fmt))
        size = rng.choice([1, 7, 64, 1 << 20])  # chunk edges everywhere: mid-line, at line ends, the whole file
        monkeypatch.setattr(scan, "CHUNK_BYTES", size)
        cases.append((path, fmt, size, outcome(path, fmt)))
    line_reader()
    for path, fmt, size, fast in cases:
        monkeypatch.setattr(scan, "CHUNK_BYTES", size)
        assert fast == outcome(path, fmt), (fmt, size, path.read_bytes()[:200])


RAW_FILES = sorted({(d.file, d.format) for d in CATALOGUE.values()})


@pytest.mark.parametrize("file, fmt", RAW_FILES)
def test_every_shared_dataset_reads_the_same_both_ways(line_reader, file, fmt):
    path = ROOT / DATA_ROOT / file
    if not path.is_file():
        pytest.skip(f"{path} not found (licence-restricted data lives only in ../shared/data)")
    fast = read_interactions(path, fmt)
    line_reader()
    slow = read_interactions(path, fmt)
    for name in ("user", "item", "timestamp", "rating"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert (a is None and b is None) or np.array_equal(a, b), name


def test_a_bad_line_past_the_first_chunk_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "CHUNK_BYTES", 64)
    path = tmp_path / "log.txt"
    path.write_text("".join(f"{u} {u + 1}\n" for u in range(200)) + "7 x\n" + "1 2\n" * 10)
    with pytest.raises(InputFormatError, match=r"log.txt:201: item id 'x' is not an integer"):
        read_interactions(path, "sasrec")
    path.write_bytes(b"1 x\n" + b"1 2\n" * 100 + b"\xff\n")  # a byte that is not UTF-8 further on comes first
    with pytest.raises(InputFormatError, match=r"log.txt:102: not UTF-8"):
        read_interactions(path, "sasrec")


def test_build_dataset_orders_by_user_then_time_then_file_row():
    rng = np.random.default_rng(0)
    for trial in range(60):
        n = int(rng.integers(20, 400))
        user = rng.integers(0, 30, n) * (10**12 if trial % 3 == 0 else 1)  # sparse ids take the sort path
        item = rng.integers(0, 40, n) * (10**12 if trial % 2 == 0 else 1)
        ts = rng.integers(0, 4, n).astype(float) if trial % 2 else None
        try:
            ds, dropped = build_dataset(Interactions(user, item, ts, None, "x"))
        except DataError as e:
            assert "no user has" in str(e) and np.bincount(np.unique(user, return_inverse=True)[1]).max() < 3
            continue
        kept = {int(u) for u in ds.users}
        rows = sorted((int(user[r]), 0.0 if ts is None else ts[r], r) for r in range(n) if int(user[r]) in kept)
        items = sorted({int(item[r]) for _, _, r in rows})
        assert ds.item_map[1:].tolist() == items
        want = [items.index(int(item[r])) + 1 for _, _, r in rows]
        assert ds.items.tolist() == want and ds.users.tolist() == sorted(kept)
        assert dropped["interactions_read"] == n


def dense_markov_ranks(items, offsets, n_items, users):
    """The probe's definition: score every catalogue item for each user, filter the seen ones, rank the target."""
    items, offsets = np.asarray(items, dtype=np.int64), np.asarray(offsets, dtype=np.int64)
    indptr, cols, counts, unigram, c_row = _transition_csr(items, offsets, n_items)
    p1 = (unigram + 1.0) / (unigram[1:].sum() + n_items)
    p1[0] = 0.0
    t_row = np.diff(indptr).astype(np.float64)
    ends = training_ends(offsets)
    ranks, probs = [], []
    for u in users:
        c, t = items[offsets[u + 1] - 3], items[offsets[u + 1] - 2]
        denom = c_row[c] + t_row[c]
        scores = (t_row[c] * p1) / max(denom, 1e-300) if denom > 0 else p1.copy()
        row = slice(indptr[c], indptr[c + 1])
        scores[cols[row]] += counts[row] / denom if denom > 0 else 0.0
        probs.append(scores[t])
        scores = scores[None, :]
        ranks.append(int(target_ranks(filter_seen_(scores, left_pad([items[offsets[u]:ends[u]]], ends[u] - offsets[u])),
                                      np.array([t]))[0]))
    return np.array(ranks), np.array(probs)


def check_markov(items, offsets, n_items, sample=None, seed=0):
    users, ranks, probs = markov_ranks(items, offsets, n_items)
    pick = np.arange(len(users)) if sample is None or sample >= len(users) else \
        np.sort(np.random.default_rng(seed).choice(len(users), sample, replace=False))
    want_ranks, want_probs = dense_markov_ranks(items, offsets, n_items, users[pick])
    assert ranks[pick].tolist() == want_ranks.tolist()
    assert np.array_equal(probs[pick], want_probs)


def test_the_markov_probe_ranks_equal_scoring_every_item():
    rng = np.random.default_rng(1)
    missed = 0
    for trial in range(150):
        n_users, n_items = int(rng.integers(1, 50)), int(rng.integers(2, 40))
        lengths = rng.integers(1, 15, n_users)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        items = rng.integers(1, n_items + 1, offsets[-1])
        if trial % 3 == 0:
            items = np.minimum(items, rng.integers(1, 4))  # repeats, ties and seen targets
        check_markov(items, offsets, n_items)
        missed += int((markov_ranks(items, offsets, n_items)[1] == MISS_RANK).sum())
    assert missed  # seen targets were among the cases
    check_markov(np.array([1, 2, 3, 2, 3, 1]), np.array([0, 3, 6]), 3)  # one training item each: no transition


@pytest.mark.parametrize("name", ["ml-latest-small", *sorted(n for n in CATALOGUE if "/" not in n and n != "ml-latest-small")])
def test_the_markov_probe_on_every_dataset(name):
    from srlaw.data.prepare import prepare_cut
    d = CATALOGUE[name]
    path = ROOT / "data" / "ml-latest-small" / "ratings.csv" if name == "ml-latest-small" else ROOT / DATA_ROOT / d.file
    if not path.is_file():
        pytest.skip(f"{path} not found (licence-restricted data lives only in ../shared/data)")
    ds = prepare_cut(path, d.format, kcore=d.kcore)
    check_markov(ds.items, ds.offsets, ds.n_items, sample=300)


def lz78_reference(items, offsets) -> float:
    """LZ78 as written in the textbook: a trie of (node, item) pairs, a phrase never crossing a user."""
    trie, phrases = {}, 0
    for u in range(len(offsets) - 1):
        node = 0
        for x in items[offsets[u]:offsets[u + 1]].tolist():
            if (node, x) in trie:
                node = trie[(node, x)]
            else:
                trie[(node, x)] = len(trie) + 1
                phrases += 1
                node = 0
        phrases += node != 0
    return 0.0 if phrases < 2 else phrases * math.log(phrases) / len(items)


def test_lz_entropy_rate_equals_the_textbook_parse(monkeypatch):
    import srlaw.data.quality as quality
    monkeypatch.setattr(quality, "LZ_BLOCK_TOKENS", 7)  # users split across many blocks
    rng = np.random.default_rng(2)
    for _ in range(100):
        lengths = rng.integers(0, 20, int(rng.integers(1, 30)))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        items = np.minimum(rng.integers(1, 30, offsets[-1]), rng.integers(1, 30))
        assert lz_entropy_rate(items, offsets) == lz78_reference(items, offsets)


# ---------------------------------------------------------------- per-user Parquet sequences

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def test_parquet_sequences_read_like_the_same_log_as_text(tmp_path):
    sequences = {7: [3, 1, 3], 2: [5], 9: [1, 2, 3, 4]}
    table = pa.table({"user": list(sequences), "items": list(sequences.values())})
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(table.slice(0, 2), folder / "part-0.parquet")
    pq.write_table(table.slice(2), folder / "part-1.parquet")
    (folder / "_SUCCESS").write_text("")  # an engine's marker file is not a part
    text = tmp_path / "log.txt"
    text.write_text("".join(f"{u} {' '.join(map(str, s))}\n" for u, s in sequences.items()))
    want = read_interactions(text, "s3rec")
    for source in (folder, folder / "part-0.parquet"):
        got = read_interactions(source, "parquet-sequences")
        n = len(got.user)
        assert got.timestamp is None and got.rating is None
        assert got.user.tolist() == want.user[:n].tolist() and got.item.tolist() == want.item[:n].tolist()
    assert len(read_interactions(folder, "parquet-sequences").user) == len(want.user)


@pytest.mark.parametrize("table, problem", [
    ({"user": [1, 2], "items": [[1, 2], [3, -4]]}, "row 1: negative item id"),
    ({"user": [1, -2], "items": [[1, 2], [3]]}, "row 1: negative user id"),
    ({"user": [1, None], "items": [[1, 2], [3]]}, "row 1: null user, items or item"),
    ({"user": [1, 2], "items": [[1], [3, None]]}, "row 1: null user, items or item"),
    ({"user": [1], "sequence": [[1, 2]]}, "missing column 'items'"),
    ({"user": ["a"], "items": [[1, 2]]}, "user must be an integer and items a list of integers"),
])
def test_a_bad_parquet_row_is_named(tmp_path, table, problem):
    path = tmp_path / "seq.parquet"
    pq.write_table(pa.table(table), path)
    with pytest.raises(InputFormatError, match=problem) as e:
        read_interactions(path, "parquet-sequences")
    assert str(path) in str(e.value)


def test_parquet_that_is_not_parquet_and_an_empty_folder(tmp_path):
    (tmp_path / "x.parquet").write_text("user items\n")
    with pytest.raises(InputFormatError, match="not a Parquet file"):
        read_interactions(tmp_path / "x.parquet", "parquet-sequences")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFormatError, match="folder holds no .parquet files"):
        read_interactions(tmp_path / "empty", "parquet-sequences")
    with pytest.raises(InputFormatError, match="no such file"):
        read_interactions(tmp_path / "empty", "s3rec")


# ---------------------------------------------------------------- the benchmark and its page

def test_bench_scale_runs_small_and_its_page_matches_the_committed_json(tmp_path):
    out = tmp_path / "scale.json"
    proc = subprocess.run([sys.executable, "benchmarks/bench_scale.py", "--sizes", "2e4", "6e4", "--catalogues", "2000",
                           "--work", str(tmp_path / "work"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert [r["n_interactions"] > 0.9 * s for r, s in zip(doc["describe"], (2e4, 6e4))] == [True, True]
    assert all(r["seconds"] > 0 and r["peak_gib"] > 0 for r in doc["describe"])
    assert {(r["n_items"], r["fused"]) for r in doc["training"]} == {(2000, False), (2000, True)}
    assert "growth" in proc.stdout and not list((tmp_path / "work").glob("*.txt"))  # logs removed unless --keep
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_scale
    committed = json.loads((ROOT / "benchmarks" / "results" / "bench_scale.json").read_text())
    page = (ROOT / "docs" / "scale.md").read_text()
    assert bench_scale.page_block(committed) in page, "docs/scale.md: run python benchmarks/bench_scale.py"
