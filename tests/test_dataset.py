"""Canonical dataset: ordering and tie-break, filters, split, stats, hashing, variants, atomic writes."""

import numpy as np
import pytest

from srlaw.data.dataset import (build_dataset, load_dataset, make_variant, read_stats,
                           save_dataset)
from srlaw.data.protocol import history_and_target, target_positions, training_part
from srlaw.data.readers import Interactions


def raw(users, items, ts=None, ratings=None):
    return Interactions(np.array(users), np.array(items), None if ts is None else np.array(ts, float),
                        None if ratings is None else np.array(ratings, float), "mem")


def test_sort_by_timestamp_with_stable_row_tie_break():
    r = raw([2, 1, 1, 1, 1, 2, 2], [5, 30, 10, 20, 40, 6, 7], ts=[1, 3, 1, 1, 2, 2, 3])
    ds, _ = build_dataset(r)
    # user 1: t=1 rows (items 10 then 20 in file order), t=2 item 40, t=3 item 30
    raw_ids = ds.item_map[ds.sequence(0)]
    assert raw_ids.tolist() == [10, 20, 40, 30]
    assert ds.item_map[ds.sequence(1)].tolist() == [5, 6, 7]
    # contiguous ids 1..n, sorted by raw id, 0 reserved for padding
    assert ds.item_map[0] == -1 and ds.item_map[1:].tolist() == sorted(set([5, 30, 10, 20, 40, 6, 7]))


def test_short_users_dropped_and_counted():
    ds, dropped = build_dataset(raw([1, 1, 2, 2, 2], [1, 2, 1, 2, 3]))
    assert ds.n_users == 1 and dropped["short_users"] == 1 and dropped["short_user_interactions"] == 2


def test_rating_threshold_and_kcore():
    users = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]
    items = [1, 2, 3] * 4 + [1, 2, 9]
    r = raw(users, items, ratings=[5] * 14 + [1])
    ds, dropped = build_dataset(r, rating_threshold=4)
    assert dropped["below_rating_threshold"] == 1 and dropped["short_users"] == 1 and ds.n_users == 4
    ds, dropped = build_dataset(r, kcore=3)  # item 9 occurs once → removed → user 5 has 2 → removed
    assert ds.n_users == 4 and ds.n_items == 3 and dropped["kcore_removed"] == 3
    with pytest.raises(ValueError, match="no rating column"):
        build_dataset(raw([1, 1, 1], [1, 2, 3]), rating_threshold=3)


def test_split_and_roundtrip(tmp_path):
    ds, _ = build_dataset(raw([1] * 5 + [2] * 3, [1, 2, 3, 4, 5, 3, 2, 1]))
    assert ds.items[target_positions(ds.offsets, "valid")].tolist() == [4, 2]
    assert ds.items[target_positions(ds.offsets, "test")].tolist() == [5, 1]
    assert [history_and_target(ds.sequence(u), "valid") for u in range(2)][1][0].tolist() == [3]
    assert training_part(ds.sequence(0)).tolist() == [1, 2, 3]
    stats = save_dataset(ds, tmp_path / "d")
    back = load_dataset(tmp_path / "d", mmap=True)
    assert back.content_hash() == ds.content_hash() == stats["content_hash"] == read_stats(tmp_path / "d")["content_hash"]
    assert stats["n_users"] == 2 and stats["n_interactions"] == 8 and stats["length_quantiles"]["max"] == 5
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["item_map.npy", "items.npy", "offsets.npy",
                                                                    "stats.json", "users.npy"]


def test_content_hash_changes_with_data():
    a, _ = build_dataset(raw([1, 1, 1], [1, 2, 3]))
    b, _ = build_dataset(raw([1, 1, 1], [1, 3, 2]))
    assert a.content_hash() != b.content_hash()


def test_failed_save_keeps_previous_output(tmp_path, monkeypatch):
    ds, _ = build_dataset(raw([1, 1, 1], [1, 2, 3]))
    save_dataset(ds, tmp_path / "d")
    before = (tmp_path / "d" / "stats.json").read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("srlaw.data.dataset.write_json_atomic", boom)  # after the arrays, inside the temporary folder
    with pytest.raises(OSError):
        save_dataset(ds, tmp_path / "d")
    assert (tmp_path / "d" / "stats.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary folder left behind


def _toy(n_users=200, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), rng.integers(3, 30, n_users))
    return build_dataset(raw(users, rng.integers(1, 100, len(users))))[0]


def test_user_fraction_variants_nest():
    ds = _toy()
    v25, v50, v100 = (make_variant(ds, user_fraction=f, seed=7) for f in (0.25, 0.5, 1.0))
    assert set(v25.users) < set(v50.users) < set(v100.users) == set(ds.users)
    assert v25.n_users == 50 and v50.n_users == 100
    assert v25.n_items == ds.n_items  # the catalogue is kept so variants compare
    u = v25.users[3]
    assert v25.sequence(3).tolist() == ds.sequence(int(np.flatnonzero(ds.users == u)[0])).tolist()
    assert set(make_variant(ds, user_fraction=0.25, seed=8).users) != set(v25.users)


def test_truncation_and_noise_variants():
    ds = _toy()
    t = make_variant(ds, last_items=5, seed=1)
    assert t.lengths.max() == 5
    for u in range(ds.n_users):
        assert t.sequence(u).tolist() == ds.sequence(u)[-5:].tolist()
    noisy = make_variant(ds, noise=0.3, seed=1)
    changed = (noisy.items != ds.items).mean()
    assert 0.2 < changed < 0.35 and noisy.items.min() >= 1 and noisy.items.max() <= ds.n_items
    with pytest.raises(ValueError, match="user_fraction"):
        make_variant(ds, user_fraction=0)
