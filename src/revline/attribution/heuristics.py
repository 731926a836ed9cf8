"""First-touch, last-touch and linear credit straight from a paths table.

Why a path-level entry point next to the ledger models: users switching from
ChannelAttribution hold aggregated paths (one row per distinct path with its conversions and
value), not touchpoint tables. `heuristic_models` takes that table and returns what
ChannelAttribution's `heuristic_models` returns, computed on the integer-encoded paths of
`revline.attribution.paths.encode_paths` with a handful of numpy passes (one bincount per
column; linear spreads each path's conversions over its tokens with per-path 1/len weights),
never a Python loop per path.

Differences from ChannelAttribution 2.2.5 (deliberate, documented):
* Fractional conversions stay fractional (ChannelAttribution truncates total_conversions to
  an integer; on integer counts both agree exactly).
* `sep` may be longer than one character: channels are trimmed of surrounding whitespace, so
  'a > b' and 'a>b' are the same path with sep '>' or ' > '.
* Bad input raises `PathsError` naming the source, row and field (negative or non-numeric
  conversions, empty paths, empty channel names).
Rows come in order of each channel's first appearance in the table, as ChannelAttribution
orders them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from revline.attribution.paths import DEFAULT_SEP, EncodedPaths, PathsError, encode_paths

HEURISTICS: tuple[str, ...] = ("first_touch", "last_touch", "linear_touch")


def _first_appearance(codes: np.ndarray, k: int) -> np.ndarray:
    """Channel ids in order of their first position in `codes`.

    Why blocks: channels nearly always all appear within the first few thousand tokens, so
    this looks at a growing prefix instead of sorting millions of codes.
    """
    first = np.full(k, -1, dtype=np.int64)
    missing = k
    lo, step = 0, 4096
    while missing and lo < len(codes):
        block = codes[lo: lo + step]
        ids, idx = np.unique(block, return_index=True)
        new = first[ids] < 0
        first[ids[new]] = idx[new] + lo
        missing -= int(new.sum())
        lo += step
        step *= 4
    first[first < 0] = len(codes)  # never seen (cannot happen for encoded paths); keep them last
    return np.argsort(first, kind="stable")


def heuristics_from_encoded(enc: EncodedPaths, *, with_value: bool = True) -> pd.DataFrame:
    """The heuristic table of already encoded paths (see `heuristic_models`)."""
    k = len(enc.channels)
    lengths = enc.lengths
    nonempty = lengths > 0
    starts = enc.offsets[:-1][nonempty]
    first = enc.codes[starts]
    last = enc.codes[enc.offsets[1:][nonempty] - 1]
    inv_len = np.zeros(enc.n_paths, dtype=np.float64)
    np.divide(1.0, lengths, out=inv_len, where=nonempty)
    cols: dict[str, np.ndarray] = {}
    weights = {"conversions": enc.conversions}
    if with_value:
        weights["value"] = enc.value
    for suffix, w in weights.items():
        cols[f"first_touch_{suffix}"] = np.bincount(first, weights=w[nonempty], minlength=k)
        cols[f"last_touch_{suffix}"] = np.bincount(last, weights=w[nonempty], minlength=k)
        cols[f"linear_touch_{suffix}"] = np.bincount(
            enc.codes, weights=np.repeat(w * inv_len, lengths), minlength=k
        )
    order = _first_appearance(enc.codes, k)
    names = np.asarray(enc.channels, dtype=object)
    out = pd.DataFrame({"channel_name": names[order]})
    for c in (f"{h}_{s}" for h in HEURISTICS for s in weights):
        out[c] = cols[c][order]
    if not with_value:
        out = out.rename(columns={f"{h}_conversions": h for h in HEURISTICS})
    return out.reset_index(drop=True)


def heuristic_models(
    paths: pd.DataFrame,
    var_path: str = "path",
    var_conv: str = "total_conversions",
    var_value: str | None = "total_conversion_value",
    sep: str = DEFAULT_SEP,
    *,
    source: str = "paths",
) -> pd.DataFrame:
    """ChannelAttribution's `heuristic_models` on a paths table, vectorised.

    Each path's conversions (and value) go wholly to its first channel (first touch), wholly
    to its last (last touch), or 1/len to each of its len touches (linear; a channel repeated
    in a path gets one share per occurrence). Returns channel_name plus
    first_touch_conversions, first_touch_value, last_touch_conversions, last_touch_value,
    linear_touch_conversions, linear_touch_value; with `var_value=None` the columns are
    first_touch, last_touch, linear_touch (conversions), as in ChannelAttribution.
    """
    if var_value is not None and var_value not in paths.columns:
        raise PathsError(f"{source}: missing column {var_value!r} (have {list(paths.columns)})")
    enc = encode_paths(
        paths, var_path=var_path, var_conv=var_conv, var_value=var_value, var_null=None, sep=sep, source=source
    )
    return heuristics_from_encoded(enc, with_value=var_value is not None)


__all__ = ["HEURISTICS", "heuristic_models", "heuristics_from_encoded"]
