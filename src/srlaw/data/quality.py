"""Data-quality scores: paper-faithful Approximate Entropy and dataset-level entropy estimates.

ApEn (SCIENCE.md §3, Pincus 1991): for a sequence U of length L, templates x_i = U[i:i+m];
C_i^m = #{j : max_k |x_i[k] - x_j[k]| <= r} / (L - m + 1) (self-match counted); Φ^m = mean_i ln C_i^m.
The published code returns |Φ^(m+1) - Φ^m| (``signed=False``, the default); ``signed=True`` returns
Φ^m - Φ^(m+1), antropy's convention. With r < 0 no template matches even itself, so ApEn is undefined (nan),
as in the published code.

Speed: item ids are integers, so for 0 <= r < 1 two templates match iff they are equal and C_i^m is a count of
equal m-grams — computed for all users at once by sorting integer m-gram keys (no O(L²) pairs). For r >= 1 or
non-integer input a vectorised pairwise path is used.

Item-id ApEn is degenerate (SCIENCE.md §2.4): a user who never repeats an item gets ln((L-m+1)/(L-m)), a
function of length alone. The dataset-level scores below carry real information: pooled ApEn (templates matched
across all users), the conditional entropy of the next item given the previous m (plug-in and Miller–Madow) and an
LZ78 entropy rate over the pooled stream.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from srlaw.data.dataset import gather_slices
from srlaw.core.errors import ParamsError
from srlaw.data.protocol import MISS_RANK, ranking_metric_sums, target_positions, training_ends

APEN_CONVENTION = "published: |Phi^(m+1) - Phi^m| (signed=True gives Phi^m - Phi^(m+1), as antropy)"
D_PRIME_NORMALISATION = "D' = n_tokens * score / ln(n_items): an entropy in nats divided by the entropy of a uniform next item"


def _check_m_r(m: int, r: float) -> None:
    if int(m) != m or m < 1:
        raise ValueError(f"ApEn order m must be an integer >= 1, got {m!r}")
    if not np.isfinite(r):
        raise ValueError(f"ApEn tolerance r must be finite, got {r!r}")


def _finish_apen(phi_m, phi_m1, signed: bool):
    diff = np.asarray(phi_m) - np.asarray(phi_m1)
    return diff if signed else np.abs(diff)


# ---------------------------------------------------------------- reference (naive) implementation

def approximate_entropy_naive(sequence, m: int = 2, r: float = 0.2, signed: bool = False) -> float:
    """ApEn written exactly as the formula, O(L²·m) in pure Python: the oracle and the speed baseline."""
    _check_m_r(m, r)
    u = [float(x) for x in sequence]
    n = len(u)
    if n < m + 1:
        return float("nan")

    def phi(mm):
        x = [u[i:i + mm] for i in range(n - mm + 1)]
        total = 0.0
        for xi in x:
            c = sum(1 for xj in x if max(abs(a - b) for a, b in zip(xi, xj)) <= r)
            if c == 0:
                return float("-inf")
            total += math.log(c / (n - mm + 1))
        return total / (n - mm + 1)

    a, b = phi(m), phi(m + 1)
    if math.isinf(a) or math.isinf(b):
        return float("nan")
    return (a - b) if signed else abs(b - a)


# ---------------------------------------------------------------- fast exact paths

def _user_of_position(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def _gram_keys(items: np.ndarray, offsets: np.ndarray, m: int, group: np.ndarray | None):
    """Exact integer keys of every length-m template that fits inside its user's sequence.

    Returns (keys, starts) where ``keys[t]`` identifies (group, m-gram) of template t. Keys are combined
    base-(V+1) and re-ranked whenever the next combination could overflow int64, so they never collide.
    """
    n = len(items)
    end = np.repeat(offsets[1:], np.diff(offsets))
    starts = np.flatnonzero(np.arange(n) + m <= end)
    base = int(items.max()) + 1 if n else 1
    if group is None:
        key = np.zeros(len(starts), dtype=np.int64)
        bound = 1
    else:
        key = group[starts].astype(np.int64)
        bound = int(group.max()) + 1 if len(group) else 1
    for k in range(m):
        if bound * base >= 2**62:
            _, key = np.unique(key, return_inverse=True)
            key = key.astype(np.int64)
            bound = int(key.max()) + 1 if len(key) else 1
        key = key * base + items[starts + k]
        bound *= base
    return key, starts


def _sum_c_log_c_by_group(keys: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, Σ over templates of ln(count of the template's key) = Σ over distinct keys c·ln c."""
    if len(keys) == 0:
        return np.zeros(n_groups)
    if n_groups == 1:  # one group: the keys alone, sorted in place of an argsort (half the time)
        order, sk = None, np.sort(keys)
    else:
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
    edges = np.flatnonzero(np.diff(sk)) + 1
    run_starts = np.concatenate([[0], edges])
    counts = np.diff(np.concatenate([run_starts, [len(sk)]]))
    run_groups = np.zeros(len(run_starts), dtype=np.int64) if order is None else groups[order[run_starts]]
    return np.bincount(run_groups, weights=counts * np.log(counts), minlength=n_groups)


def _apen_exact_batch(items, offsets, m, signed):
    """Per-user ApEn for integer ids and 0 <= r < 1 (match = equal m-gram), all users in one sort."""
    n_users = len(offsets) - 1
    lengths = np.diff(offsets)
    upos = _user_of_position(offsets)
    phis = []
    for mm in (m, m + 1):
        keys, starts = _gram_keys(items, offsets, mm, upos)
        t = (lengths - mm + 1).astype(np.float64)
        s = _sum_c_log_c_by_group(keys, upos[starts], n_users)
        with np.errstate(divide="ignore", invalid="ignore"):
            phis.append(np.where(t > 0, s / t - np.log(np.maximum(t, 1)), np.nan))
    out = _finish_apen(phis[0], phis[1], signed)
    out[lengths < m + 1] = np.nan
    return out


CHUNK_TOKENS = 1 << 15  # users are scored in blocks of about this many items: bounded memory, same result


def _apen_exact_chunked(items, offsets, m, signed, chunk_tokens: int = CHUNK_TOKENS):
    """:func:`_apen_exact_batch` over blocks of whole users, so peak memory does not grow with the dataset."""
    n_users = len(offsets) - 1
    out = np.empty(n_users)
    bounds = np.searchsorted(offsets, np.arange(0, offsets[-1], chunk_tokens), side="right") - 1
    cuts = np.unique(np.concatenate([bounds, [n_users]]))
    for a, b in zip(cuts[:-1], cuts[1:]):
        lo, hi = offsets[a], offsets[b]
        block = np.asarray(items[lo:hi], dtype=np.int64)
        out[a:b] = _apen_exact_batch(block, offsets[a:b + 1] - lo, m, signed)
    return out


PAIRWISE_BLOCK = 1 << 22  # distances held at once by the pairwise ApEn: 32 MiB, whatever a user's length


def _apen_pairwise(seq: np.ndarray, m: int, r: float, signed: bool) -> float:
    """One sequence, any r: Chebyshev distances between all templates, a block of rows at a time (O(L²) time,
    memory bounded by :data:`PAIRWISE_BLOCK`)."""
    n = len(seq)
    if n < m + 1:
        return float("nan")
    x = np.asarray(seq, dtype=np.float64)
    phis = []
    for mm in (m, m + 1):
        t = n - mm + 1
        tmpl = np.lib.stride_tricks.sliding_window_view(x, mm)
        c = np.empty(t)
        rows = max(1, PAIRWISE_BLOCK // t)
        for a in range(0, t, rows):
            d = np.zeros((min(rows, t - a), t))
            for k in range(mm):
                np.maximum(d, np.abs(tmpl[a:a + rows, k][:, None] - tmpl[:, k][None, :]), out=d)
            c[a:a + rows] = (d <= r).sum(axis=1)
        phis.append(np.log(c / t).mean())
    return float(_finish_apen(phis[0], phis[1], signed))


def _is_integer_array(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.integer) or (a.size > 0 and np.all(np.mod(a, 1) == 0))


def approximate_entropy(sequence, m: int = 2, r: float = 0.2, signed: bool = False) -> float:
    """Paper-faithful ApEn of one 1-D sequence (default: the published |Φ^(m+1) − Φ^m|).

    >>> round(approximate_entropy([1, 2, 3, 1, 2, 3, 1, 2, 3]), 6)
    0.003203
    """
    _check_m_r(m, r)
    a = np.asarray(sequence)
    if a.ndim != 1:
        raise ValueError(f"sequence must be 1-D, got shape {a.shape}")
    if r < 0:
        return float("nan")
    if 0 <= r < 1 and _is_integer_array(a) and len(a) > 0:
        offsets = np.array([0, len(a)], dtype=np.int64)
        ids = np.unique(a, return_inverse=True)[1].astype(np.int64)  # dense ids keep keys small
        return float(_apen_exact_batch(ids, offsets, m, signed)[0])
    return _apen_pairwise(a, m, r, signed)


def _progress(iterable, total, desc):
    """tqdm on a terminal, silent otherwise (DVC logs, CI)."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, leave=False)


def truncate_to_last(items: np.ndarray, offsets: np.ndarray, last: int | None):
    """Each user's last ``last`` items, as (items, offsets)."""
    if last is None:
        return np.asarray(items), np.asarray(offsets)
    ends = np.asarray(offsets[1:])
    return gather_slices(items, np.maximum(offsets[:-1], ends - last), ends)


def apen_per_sequence(items, offsets, m: int = 2, r: float = 0.2, window: int | None = None,
                      signed: bool = False) -> np.ndarray:
    """ApEn of every user's last ``window`` items; one value per user (nan where undefined)."""
    _check_m_r(m, r)
    items, offsets = truncate_to_last(items, offsets, window)
    n_users = len(offsets) - 1
    if r < 0:
        return np.full(n_users, np.nan)
    if 0 <= r < 1 and _is_integer_array(items):
        return _apen_exact_chunked(items, np.asarray(offsets, dtype=np.int64), m, signed)
    out = np.empty(n_users)
    for u in _progress(range(n_users), n_users, "ApEn (pairwise)"):
        out[u] = _apen_pairwise(items[offsets[u]:offsets[u + 1]], m, r, signed)
    return out


def pooled_apen(items, offsets, m: int = 2, signed: bool = True) -> float:
    """ApEn with templates matched across all users (exact m-gram equality): ≈ H(next | previous m).

    Templates never cross a user boundary. Defaults to the signed value: pooled, Φ^m − Φ^(m+1) ≥ 0 in practice.
    """
    _check_m_r(m, 0.0)
    items = np.asarray(items, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    phis = []
    for mm in (m, m + 1):
        keys, _ = _gram_keys(items, offsets, mm, None)
        t = len(keys)
        if t == 0:
            return float("nan")
        s = _sum_c_log_c_by_group(keys, np.zeros(t, dtype=np.int64), 1)[0]
        phis.append(s / t - math.log(t))
    return float(_finish_apen(phis[0], phis[1], signed))


def _entropy_of_counts(counts: np.ndarray) -> float:
    n = counts.sum()
    p = counts / n
    return float(-(p * np.log(p)).sum())


def _key_counts(keys: np.ndarray) -> np.ndarray:
    return np.unique(keys, return_counts=True)[1]


def conditional_entropy(items, offsets, order: int = 1, correction: str = "none") -> float:
    """H(next item | previous ``order`` items) in nats over all within-user transitions.

    ``correction="miller-madow"`` adds (K_joint − K_context) / (2n), the Miller–Madow bias terms of the joint
    and context entropies (K = number of distinct outcomes seen, n = number of transitions).
    """
    if correction not in ("none", "miller-madow"):
        raise ValueError(f"correction must be 'none' or 'miller-madow', got {correction!r}")
    items = np.asarray(items, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    joint, starts = _gram_keys(items, offsets, order + 1, None)
    n = len(joint)
    if n == 0:
        return float("nan")
    jc = _key_counts(joint)
    if order == 0:
        h = _entropy_of_counts(jc)
        k_ctx = 1
        cc = np.array([n])
    else:
        ctx, _ = _gram_keys(items, offsets, order, None)
        # contexts of the transitions only: a template whose next item lies past the user's end is no context
        end = np.repeat(offsets[1:], np.diff(offsets))
        ctx_starts = np.flatnonzero(np.arange(len(items)) + order <= end)
        has_next = ctx_starts + order < end[ctx_starts]
        cc = _key_counts(ctx[has_next])
        h = _entropy_of_counts(jc) - _entropy_of_counts(cc)
        k_ctx = len(cc)
    if correction == "miller-madow":
        h += (len(jc) - k_ctx) / (2.0 * n)
    return float(h)


LZ_BLOCK_TOKENS = 1 << 20  # items turned into Python ints at a time: the trie, not the stream, takes the memory


def lz_entropy_rate(items, offsets) -> float:
    """LZ78 entropy-rate estimate c·ln(c)/n (nats per item) over the pooled stream of all users.

    One phrase dictionary is shared by all users (so common patterns are learned across users); a phrase never
    crosses a user boundary. Converges to the entropy rate of a stationary ergodic source (Ziv & Lempel 1978),
    slowly (bias O(1/ln n)): compare it across variants, not to an absolute truth.

    The parse is sequential by nature (each phrase extends one seen before), so it stays a Python loop — one dict
    lookup per item, keyed by one integer (node · (V + 1) + item) — over blocks of users, linear in the items.
    """
    items = np.asarray(items)
    offsets = np.asarray(offsets, dtype=np.int64)
    n = len(items)
    if n == 0 or len(offsets) < 2 or offsets[-1] == offsets[0]:
        return 0.0
    width = int(items[offsets[0]:offsets[-1]].max()) + 1
    trie: dict[int, int] = {}
    get = trie.get
    phrases = 0
    n_users = len(offsets) - 1
    bounds = np.searchsorted(offsets, np.arange(offsets[0], offsets[-1], LZ_BLOCK_TOKENS), side="right") - 1
    cuts = np.unique(np.concatenate([bounds, [n_users]]))
    for a, b in _progress(list(zip(cuts[:-1], cuts[1:])), len(cuts) - 1, "LZ78"):
        lo = int(offsets[a])
        block = items[lo:offsets[b]].tolist()
        pos = 0
        for end in (offsets[a + 1:b + 1] - lo).tolist():
            node = 0
            for x in block[pos:end]:
                key = node * width + x
                nxt = get(key)
                if nxt is None:
                    phrases += 1
                    trie[key] = phrases
                    node = 0
                else:
                    node = nxt
            pos = end
            if node:
                phrases += 1  # an unfinished phrase at the end of the user
    if phrases < 2:
        return 0.0
    return float(phrases * math.log(phrases) / n)


def data_score(scores: dict, key: str, source="entropy.json") -> float:
    """One score of :func:`entropy_scores` by key; ``'effective_data.apen_mean'`` reaches into a nested one."""
    node = scores
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ParamsError(f"{source}: no score {key!r} (a law's data axis: law.data_score in params.yaml)")
        node = node[part]
    return float(node)


def effective_data(n_tokens: int, score: float, n_items: int) -> float:
    """The paper's D' = #tokens × normalised score; see :data:`D_PRIME_NORMALISATION`."""
    return float(n_tokens * score / math.log(max(n_items, 2)))


def entropy_scores(items, offsets, n_items: int, m: int = 2, r: float = 0.2, window: int | None = None,
                   signed: bool = False) -> dict:
    """Every data-quality score of one dataset (each user's last ``window`` items; the probe reads whole histories), with the parameters used."""
    t0 = time.perf_counter()
    seconds = {}

    def timed(name, fn, *args, **kwargs):  # where the time goes, recorded beside the scores
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t
        return out

    trunc_items, trunc_off = truncate_to_last(items, offsets, window)
    per_user = timed("apen", apen_per_sequence, trunc_items, trunc_off, m=m, r=r, signed=signed)
    apen_mean = float(np.nanmean(per_user)) if np.isfinite(per_user).any() else float("nan")
    n_tokens = int(len(trunc_items))
    scores = {
        "apen_mean": apen_mean,
        "apen_std": float(np.nanstd(per_user)) if np.isfinite(per_user).any() else float("nan"),
        "apen_undefined_users": int((~np.isfinite(per_user)).sum()),
        "pooled_apen": timed("pooled_apen", pooled_apen, trunc_items, trunc_off, m=m),
        "conditional_entropy": timed("conditional_entropy", conditional_entropy, trunc_items, trunc_off, order=1),
        "conditional_entropy_miller_madow": timed("conditional_entropy", conditional_entropy, trunc_items, trunc_off,
                                                  order=1, correction="miller-madow"),
        "lz_entropy_rate": timed("lz_entropy_rate", lz_entropy_rate, trunc_items, trunc_off),
    }
    lengths = np.diff(trunc_off)
    # on full histories: the data a model trains on
    scores.update(timed("markov_probe", markov_probe, items, offsets, n_items))
    return {
        "n_users": int(len(trunc_off) - 1),
        "n_items": int(n_items),
        "n_tokens": n_tokens,
        **scores,
        "effective_data": {
            name: effective_data(n_tokens, scores[name], n_items)
            for name in ("apen_mean", "pooled_apen", "conditional_entropy_miller_madow", "lz_entropy_rate")
        },
        # tokens a cheap model already predicts: size and difficulty in one number
        "predictable_tokens": float(n_tokens * scores["markov_ndcg@10"]),
        "params": {"m": int(m), "r": float(r), "window": window, "signed": bool(signed),
                   "apen_convention": APEN_CONVENTION, "conditional_entropy_order": 1,
                   "d_prime_normalisation": D_PRIME_NORMALISATION},
        "length_mean": float(lengths.mean()) if len(lengths) else 0.0,
        "seconds": {**seconds, "total": time.perf_counter() - t0},
    }


# ---------------------------------------------------------------- held-out predictability (a cheap difficulty probe)

def _transition_csr(items, offsets, n_items):
    """First-order transition counts of the training part (all but each user's last two items), as CSR arrays."""
    items = np.asarray(items, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    end = np.repeat(training_ends(offsets), np.diff(offsets))
    pos = np.arange(len(items))
    src = np.flatnonzero(pos + 1 < end)  # transitions (t -> t+1) with t+1 inside the training part
    key = items[src] * (n_items + 1) + items[src + 1]
    uniq, counts = np.unique(key, return_counts=True)
    rows, cols = uniq // (n_items + 1), uniq % (n_items + 1)
    indptr = np.zeros(n_items + 2, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_items + 1), out=indptr[1:])
    unigram = np.bincount(items[pos < end], minlength=n_items + 1).astype(np.float64)
    row_totals = np.bincount(rows, weights=counts, minlength=n_items + 1)
    return indptr, cols, counts.astype(np.float64), unigram, row_totals


def _distinct(a: np.ndarray) -> np.ndarray:
    """The distinct values of ``a``, sorted (a sort and a mask: faster than ``np.unique``'s hash table here)."""
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if len(a) else a


def _count_at_least(values_sorted: np.ndarray, score, threshold: np.ndarray) -> np.ndarray:
    """Per query q, #{v in values_sorted : score(v, q) >= threshold[q]} for a ``score`` non-decreasing in v:
    one vectorised binary search (each step evaluates ``score`` exactly as the dense ranking did)."""
    n = len(values_sorted)
    lo = np.zeros(len(threshold), dtype=np.int64)
    return n - _first_at_least(lambda at: score(values_sorted[np.minimum(at, max(n - 1, 0))]), lo,
                               np.full(len(threshold), n, dtype=np.int64), threshold)


def _first_at_least(value_at, lo: np.ndarray, hi: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Per query, the first position in [lo, hi) whose non-decreasing ``value_at(position)`` is >= the threshold
    (hi where none is): a binary search over every query at once."""
    lo, hi = lo.copy(), hi.copy()
    while (lo < hi).any():
        open_ = lo < hi
        mid = (lo + hi) // 2
        reach = value_at(mid) >= threshold
        hi = np.where(open_ & reach, mid, hi)
        lo = np.where(open_ & ~reach, mid + 1, lo)
    return lo


MARKOV_BLOCK_TOKENS = 1 << 22  # users' histories are filtered a block of about this many items at a time


def markov_ranks(items, offsets, n_items: int, block_tokens: int = MARKOV_BLOCK_TOKENS):
    """The Markov probe's validation targets: (users scored, 0-based rank of each target, its probability) —
    see :func:`markov_probe`."""
    items = np.asarray(items, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    users = np.flatnonzero(np.diff(offsets) >= 3)
    indptr, cols, counts, unigram, c_row = _transition_csr(items, offsets, n_items)
    width = n_items + 1
    p1 = (unigram + 1.0) / (unigram[1:].sum() + n_items)
    p1[0] = 0.0
    t_row = np.diff(indptr).astype(np.float64)
    target_at = target_positions(offsets, "valid")[users]
    ctx, tgt = items[target_at - 1], items[target_at]
    denom = c_row[ctx] + t_row[ctx]
    smoothed = denom > 0
    safe = np.maximum(denom, 1e-300)

    def base(p, who=slice(None)):  # the score of an item that never followed the user's context
        return np.where(smoothed[who], (t_row[ctx][who] * p) / safe[who], p)

    # the target's own score (its transition count, where it followed the context)
    row = np.repeat(np.arange(width), np.diff(indptr))  # each transition's context
    # (context, item) keys of every transition and their counts; one key that matches nothing when there are none
    keys, found_counts = (row * width + cols, counts) if len(cols) else (np.array([-1]), np.array([0.0]))

    def transition_count(context, item):  # c(context, item), 0 where the item never followed the context
        query = context * width + item
        order = np.argsort(query)  # looked up in key order: the search walks the keys once, not at random
        at = np.empty(len(query), dtype=np.int64)
        at[order] = np.minimum(np.searchsorted(keys, query[order]), len(keys) - 1)
        hit = keys[at] == query
        return np.where(hit, found_counts[at], 0.0), hit

    c_t, follows = transition_count(ctx, tgt)
    s_t = base(p1[tgt])
    s_t = np.where(follows, s_t + c_t / safe, s_t)

    # every catalogue item by its no-transition score, then the context's successors at their true scores
    above = _count_at_least(np.sort(p1[1:]), base, s_t)
    row_denom = np.maximum(c_row + t_row, 1e-300)[row]
    succ_base = (t_row[row] * p1[cols]) / row_denom
    lo, hi = indptr[ctx], np.where(smoothed, indptr[ctx + 1], indptr[ctx])
    for succ, sign in ((succ_base, -1), (succ_base + counts / row_denom, 1)):
        ordered = succ[np.lexsort((succ, row))]  # each context's successors by score (rows stay in place)
        last = max(len(ordered) - 1, 0)
        first = _first_at_least(lambda at: ordered[np.minimum(at, last)], lo, hi, s_t)
        above += sign * (hi - first)
        del ordered
    del row_denom, succ_base

    # the user's distinct training items are filtered: a seen target is a miss, seen items above it drop out
    seen_above = np.zeros(len(users), dtype=np.int64)
    seen_target = np.zeros(len(users), dtype=bool)
    starts, ends = offsets[users], training_ends(offsets)[users]
    cuts = np.searchsorted(np.cumsum(ends - starts), np.arange(block_tokens, int((ends - starts).sum()) + block_tokens,
                                                                block_tokens), side="right")
    for a, b in zip(np.concatenate([[0], cuts[:-1]]), cuts):
        if a == b:
            continue
        seen, _ = gather_slices(items, starts[a:b], ends[a:b])
        who = np.repeat(np.arange(a, b), ends[a:b] - starts[a:b])
        pair = _distinct(who * width + seen)
        who, seen = pair // width, pair % width
        score = base(p1[seen], who)
        c_seen, hit = transition_count(ctx[who], seen)
        score = np.where(hit, score + c_seen / safe[who], score)
        is_target = seen == tgt[who]
        seen_target[who[is_target]] = True
        seen_above += np.bincount(who[(score >= s_t[who]) & ~is_target], minlength=len(users))
    return users, np.where(seen_target, MISS_RANK, above - 1 - seen_above), s_t


def markov_probe(items, offsets, n_items: int, ks=(10,), block_tokens: int = MARKOV_BLOCK_TOKENS) -> dict:
    """Held-out predictability of a smoothed first-order Markov model (seconds, not a transformer run).

    Fitted on the training split and scored on the validation targets (:mod:`srlaw.data.protocol`; context = the item
    before the target). Witten–Bell interpolation with an add-one unigram:
    P(j | i) = (c(i, j) + T(i) · P1(j)) / (c(i) + T(i)), T(i) = number of distinct successors of i
    (Witten & Bell 1991; Chen & Goodman 1999). Returns the held-out cross-entropy in nats per token and the
    probe's full-ranking HR@K / NDCG@K (training items filtered, as for the transformers).

    The full ranking is counted, not materialised: an item that never followed the context scores T(i)·P1(j) / (c(i)
    + T(i)), monotone in P1(j), so the items above the target are a binary search in the sorted unigram, corrected
    by the context's successors (sorted once per context) and the user's distinct training items. Time and memory
    grow with the interactions, not with users × catalogue; ranks equal those of scoring every item
    (:func:`srlaw.data.protocol.target_ranks`: ties count against the target, seen items filtered).
    """
    users, ranks, p_target = markov_ranks(items, offsets, n_items, block_tokens)
    sums = ranking_metric_sums(ranks, ks)
    n = max(len(users), 1)
    return {"markov_cross_entropy": float(-np.log(p_target).sum() / n),
            **{f"markov_{m}@{k}": float(sums[f"{m}@{k}"] / n) for k in ks for m in ("hr", "ndcg")},
            "markov_users": int(len(users))}
