"""Shapley-value attribution over channel coalitions, exact where feasible.

The game: channels are players; a journey's *channel set* T is the set of distinct channels it
touched. Two characteristic functions ("worth") are offered:

- worth="conversions" (default, the standard one of Shapley attribution): v(S) = conversions (or
  value) of the journeys whose channel set is a subset of S. v is the subset-sum (zeta transform)
  of w[T] = conversions of journeys with channel set exactly T, so its Harsanyi dividends (Moebius
  transform) are w itself, and every channel of every journey is kept. The Shapley value is then
  phi_i = sum over T containing i of w[T] / |T| -- each journey's conversions split evenly over
  its distinct channels. Values are never negative and sum to the total (efficiency).
- worth="rate": v(S) = conversion rate (conversions / journeys, nulls included) of the journeys
  whose channel set is a subset of S, scaled by the number of journeys so the values sum to the
  total conversions. Dividends can be negative here: a channel whose journeys convert worse than
  the journeys without it *lowers* the rate of every coalition it joins, and its Shapley value is
  negative. That is the honest answer of the game (the channel brings converters' company down),
  not a numerical error; `floor_negative=True` clips such values to 0 and rescales the others so
  the total is kept, for reports that cannot show negative credit.

Exact computation tabulates v over all 2^n coalitions (n <= 20: 1M float64 entries) with
vectorised zeta / Moebius transforms and reads phi from the dividends. Above `max_exact`
channels, worth="conversions" still has the closed form above (exact for any n); worth="rate" is
estimated from antithetic random permutations with a reported standard error. Everything is
deterministic: channels are ordered by name and sampling uses a fixed seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from revline.attribution.paths import DEFAULT_SEP, EncodedPaths, encode_paths

MAX_EXACT = 20


# ----------------------------------------------------------------------------- transforms

def zeta_transform(a: np.ndarray) -> np.ndarray:
    """Subset sums: out[S] = sum over T subset of S of a[T] (a has length 2^n)."""
    out = np.array(a, dtype=np.float64, copy=True)
    n = int(np.log2(len(out)))
    for i in range(n):
        v = out.reshape(-1, 2, 1 << i)
        v[:, 1, :] += v[:, 0, :]
    return out


def moebius_transform(a: np.ndarray) -> np.ndarray:
    """Inverse of `zeta_transform`: the Harsanyi dividends of a game tabulated over 2^n coalitions."""
    out = np.array(a, dtype=np.float64, copy=True)
    n = int(np.log2(len(out)))
    for i in range(n):
        v = out.reshape(-1, 2, 1 << i)
        v[:, 1, :] -= v[:, 0, :]
    return out


def _popcount(n: int) -> np.ndarray:
    size = np.zeros(1 << n, dtype=np.int8)
    for i in range(n):
        size.reshape(-1, 2, 1 << i)[:, 1, :] += 1
    return size


def shapley_from_dividends(dividends: np.ndarray) -> np.ndarray:
    """phi_i = sum over coalitions T containing i of d[T] / |T| (the dividend split)."""
    n = int(np.log2(len(dividends)))
    size = _popcount(n).astype(np.float64)
    size[0] = 1.0
    share = dividends / size
    share[0] = 0.0
    return np.array([share.reshape(-1, 2, 1 << i)[:, 1, :].sum() for i in range(n)])


def shapley_values(worth: np.ndarray) -> np.ndarray:
    """Exact Shapley values of any game tabulated over 2^n coalitions (bit i = player i)."""
    return shapley_from_dividends(moebius_transform(worth))


# ----------------------------------------------------------------------------- the game

def _channel_sets(enc: EncodedPaths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (path, channel) pairs: returns (pair_path, pair_channel, n_distinct per path)."""
    n = len(enc.channels)
    key = enc.path_index() * n + enc.codes.astype(np.int64)
    key = np.unique(key)
    pair_path, pair_chan = key // n, key % n
    size = np.bincount(pair_path, minlength=enc.n_paths)
    return pair_path, pair_chan, size


def _masks(enc: EncodedPaths) -> np.ndarray:
    """Bitmask of each path's channel set (n <= 62)."""
    bits = np.left_shift(np.int64(1), enc.codes.astype(np.int64))
    if enc.n_paths == 0:
        return np.zeros(0, dtype=np.int64)
    return np.bitwise_or.reduceat(bits, enc.offsets[:-1])


def _exact_table(enc: EncodedPaths, worth: str) -> tuple[np.ndarray, np.ndarray]:
    """Shapley values for conversions and value by tabulating all 2^n coalitions."""
    n = len(enc.channels)
    masks = _masks(enc)
    size = 1 << n
    w_conv = np.bincount(masks, weights=enc.conversions, minlength=size)
    w_val = np.bincount(masks, weights=enc.value, minlength=size)
    if worth == "conversions":
        # v = zeta(w), so the dividends are w itself: no round trip through 2^n subset sums needed
        return shapley_from_dividends(w_conv), shapley_from_dividends(w_val)
    w_tot = np.bincount(masks, weights=enc.conversions + enc.nulls, minlength=size)
    den = zeta_transform(w_tot)
    journeys = w_tot.sum()
    out = []
    for w in (w_conv, w_val):
        num = zeta_transform(w)
        v = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        out.append(shapley_values(v) * journeys)
    return out[0], out[1]


def _closed_form(enc: EncodedPaths) -> tuple[np.ndarray, np.ndarray]:
    """worth='conversions' for any n: each path's total split evenly over its distinct channels."""
    n = len(enc.channels)
    pair_path, pair_chan, size = _channel_sets(enc)
    denom = size[pair_path].astype(np.float64)
    conv = np.bincount(pair_chan, weights=enc.conversions[pair_path] / denom, minlength=n)
    val = np.bincount(pair_chan, weights=enc.value[pair_path] / denom, minlength=n)
    return conv, val


def _sampled(
    enc: EncodedPaths, worth: str, n_permutations: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Antithetic permutation sampling; returns (phi_conv, phi_val, se_conv, se_val)."""
    n = len(enc.channels)
    pair_path, pair_chan, _ = _channel_sets(enc)
    # distinct channel sets: identify each path's set by a sum of random 64-bit channel hashes
    rng_h = np.random.default_rng(0x5EED)
    h = rng_h.integers(0, 2**63 - 1, size=n, dtype=np.int64).astype(np.uint64)
    set_hash = np.zeros(enc.n_paths, dtype=np.uint64)
    np.add.at(set_hash, pair_path, h[pair_chan])
    uniq, set_of_path = np.unique(set_hash, return_inverse=True)
    m = len(uniq)
    w_conv = np.bincount(set_of_path, weights=enc.conversions, minlength=m)
    w_val = np.bincount(set_of_path, weights=enc.value, minlength=m)
    w_tot = np.bincount(set_of_path, weights=enc.conversions + enc.nulls, minlength=m)
    journeys = w_tot.sum()
    # members of each distinct set, grouped by set (CSR)
    sp_key = np.unique(set_of_path[pair_path].astype(np.int64) * n + pair_chan)
    mem_set, mem_chan = sp_key // n, sp_key % n
    set_start = np.searchsorted(mem_set, np.arange(m))

    rng = np.random.default_rng(seed)
    n_pairs = max(1, (n_permutations + 1) // 2)
    batch = max(1, min(n_pairs, 2_000_000 // max(len(mem_chan), 1)))
    sums_c, sums_v = np.zeros(n), np.zeros(n)
    sq_c, sq_v = np.zeros(n), np.zeros(n)
    done = 0
    while done < n_pairs:
        b = min(batch, n_pairs - done)
        perm = np.argsort(rng.random((b, n)), axis=1)
        ranks = np.empty_like(perm)
        np.put_along_axis(ranks, perm, np.arange(n)[None, :].repeat(b, 0), axis=1)
        pair_marg = []
        for r in (ranks, n - 1 - ranks):  # the permutation and its reverse (antithetic)
            done_rank = np.maximum.reduceat(r[:, mem_chan], set_start, axis=1)  # b x m
            keys = (np.arange(b)[:, None] * n + done_rank).ravel()
            res = []
            for w in (w_conv, w_val):
                by_rank = np.bincount(keys, weights=np.tile(w, b), minlength=b * n).reshape(b, n)
                if worth == "rate":
                    tot = np.bincount(keys, weights=np.tile(w_tot, b), minlength=b * n).reshape(b, n)
                    cn, ct = np.cumsum(by_rank, axis=1), np.cumsum(tot, axis=1)
                    v = np.divide(cn, ct, out=np.zeros_like(cn), where=ct > 0) * journeys
                    by_rank = np.diff(v, axis=1, prepend=0.0)
                res.append(np.take_along_axis(by_rank, r, axis=1))  # marginal of each channel
            pair_marg.append(res)
        mc = (pair_marg[0][0] + pair_marg[1][0]) / 2
        mv = (pair_marg[0][1] + pair_marg[1][1]) / 2
        sums_c += mc.sum(0)
        sums_v += mv.sum(0)
        sq_c += (mc**2).sum(0)
        sq_v += (mv**2).sum(0)
        done += b
    k = float(n_pairs)
    phi_c, phi_v = sums_c / k, sums_v / k
    if k > 1:
        se_c = np.sqrt(np.maximum(sq_c / k - phi_c**2, 0.0) * k / (k - 1) / k)
        se_v = np.sqrt(np.maximum(sq_v / k - phi_v**2, 0.0) * k / (k - 1) / k)
    else:
        se_c = se_v = np.full(n, np.nan)
    return phi_c, phi_v, se_c, se_v


def _floor(phi: np.ndarray, total: float) -> np.ndarray:
    pos = np.clip(phi, 0.0, None)
    s = pos.sum()
    return pos * (total / s) if s > 0 else pos


def ordered_shapley(enc: EncodedPaths) -> pd.DataFrame:
    """Position-aware Shapley (Zhao et al. 2018, worth='conversions'): each journey's total is split
    evenly over its distinct channels, and a channel's share evenly over the positions (1-based,
    in the journey as given) where it touched. Summing over positions gives the unordered values.
    """
    n = len(enc.channels)
    path = enc.path_index()
    _, _, size = _channel_sets(enc)
    key = path * n + enc.codes.astype(np.int64)
    _, inv, occ = np.unique(key, return_inverse=True, return_counts=True)
    share = 1.0 / (size[path] * occ[inv])
    position = np.arange(len(enc.codes)) - enc.offsets[:-1][path] + 1
    frame = pd.DataFrame(
        {
            "channel_name": np.asarray(enc.channels, dtype=object)[enc.codes],
            "position": position,
            "total_conversions": enc.conversions[path] * share,
            "total_conversion_value": enc.value[path] * share,
        }
    )
    out = frame.groupby(["channel_name", "position"], as_index=False, sort=True).sum()
    return out[out["total_conversions"].ne(0) | out["total_conversion_value"].ne(0)].reset_index(drop=True)


def shapley_model(
    paths_df: pd.DataFrame,
    var_path: str = "path",
    var_conv: str = "total_conversions",
    var_value: str | None = "total_conversion_value",
    var_null: str | None = "total_null",
    sep: str = DEFAULT_SEP,
    *,
    worth: str = "conversions",
    ordered: bool = False,
    method: str = "auto",
    max_exact: int = MAX_EXACT,
    n_permutations: int = 2000,
    seed: int = 0,
    floor_negative: bool = False,
    encoded: EncodedPaths | None = None,
) -> dict[str, pd.DataFrame]:
    """Shapley attribution of a paths table.

    method: "auto" (exact up to `max_exact` channels, above it closed form for worth="conversions"
    and permutation sampling for worth="rate"), "exact" (2^n table; n <= 25), "sampled".
    Returns {"result": channel_name, total_conversions, total_conversion_value,
    std_error_conversions, std_error_value (0 when exact); "ordered": channel_name, position,
    total_conversions, total_conversion_value (when `ordered`)} and the method used in
    result.attrs["method"].
    """
    if worth not in ("conversions", "rate"):
        raise ValueError(f"worth must be 'conversions' or 'rate', got {worth!r}")
    if method not in ("auto", "exact", "sampled"):
        raise ValueError(f"method must be 'auto', 'exact' or 'sampled', got {method!r}")
    enc = encoded or encode_paths(
        paths_df, var_path=var_path, var_conv=var_conv, var_value=var_value, var_null=var_null, sep=sep
    )
    n = len(enc.channels)
    if method == "auto":
        method = "exact" if n <= max_exact else ("closed_form" if worth == "conversions" else "sampled")
    if method == "exact" and n > 25:
        raise ValueError(f"exact Shapley over 2^{n} coalitions is too large; use method='sampled'")
    se_c = se_v = np.zeros(n)
    if n == 0:
        phi_c = phi_v = np.zeros(0)
    elif method == "exact":
        phi_c, phi_v = _exact_table(enc, worth)
    elif method == "closed_form":
        phi_c, phi_v = _closed_form(enc)
    else:
        phi_c, phi_v, se_c, se_v = _sampled(enc, worth, n_permutations, seed)
    if floor_negative:
        phi_c = _floor(phi_c, float(enc.conversions.sum()))
        phi_v = _floor(phi_v, float(enc.value.sum()))
    result = pd.DataFrame(
        {
            "channel_name": list(enc.channels),
            "total_conversions": phi_c,
            "total_conversion_value": phi_v,
            "std_error_conversions": se_c,
            "std_error_value": se_v,
        }
    )
    result.attrs["method"] = method
    out = {"result": result}
    if ordered:
        if worth != "conversions":
            raise ValueError("ordered Shapley is defined for worth='conversions' only")
        out["ordered"] = ordered_shapley(enc)
    return out
