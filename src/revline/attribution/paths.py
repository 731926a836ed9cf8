"""Channel paths: the input of the data-driven models (Markov, Shapley).

A *paths table* is the shape ChannelAttribution takes: one row per distinct path with columns
path (channels joined by ' > '), total_conversions, total_conversion_value, total_null.
`export_paths` builds it from the store (the journeys of `revline.attribution.eligibility`);
`read_paths` reads one from csv / csv.gz. Models never re-parse path strings in their hot loops:
`encode_paths` turns the table into a flat integer array (CSR layout: codes + offsets) once,
straight from the Arrow buffers (see `_tokenize_chunk`), and everything downstream works on
integers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from revline.attribution import eligibility as el
from revline.store.connection import ibis_backend
from revline.store.portable import reads

PATH_COLUMNS = ["path", "total_conversions", "total_conversion_value", "total_null"]
DEFAULT_SEP = " > "


class PathsError(ValueError):
    """Bad paths input; the message names the source, row and field."""


@dataclass(frozen=True)
class EncodedPaths:
    """Paths as integers: path i is codes[offsets[i]:offsets[i+1]], channel ids index `channels`.

    Why CSR: 1M paths stay a handful of numpy arrays (no Python objects per path), and
    per-position work (k-grams, transitions) is plain vectorised arithmetic.
    """

    channels: tuple[str, ...]
    codes: np.ndarray  # int32, flat channel ids
    offsets: np.ndarray  # int64, len n_paths + 1
    conversions: np.ndarray  # float64 per path
    value: np.ndarray  # float64 per path
    nulls: np.ndarray  # float64 per path

    @property
    def n_paths(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def path_index(self) -> np.ndarray:
        """For each flat position, the path it belongs to."""
        return np.repeat(np.arange(self.n_paths, dtype=np.int64), self.lengths)

    def collapse_repeats(self) -> "EncodedPaths":
        """Merge consecutive repeats of a channel within each path (a > a > b -> a > b)."""
        if len(self.codes) == 0:
            return self
        keep = np.ones(len(self.codes), dtype=bool)
        keep[1:] = self.codes[1:] != self.codes[:-1]
        keep[self.offsets[:-1][self.lengths > 0]] = True  # a path's first touch always stays
        new_len = np.add.reduceat(keep.astype(np.int64), self.offsets[:-1]) if self.n_paths else np.zeros(0, np.int64)
        new_len = np.where(self.lengths > 0, new_len, 0)
        offsets = np.zeros(self.n_paths + 1, dtype=np.int64)
        np.cumsum(new_len, out=offsets[1:])
        return EncodedPaths(self.channels, self.codes[keep], offsets, self.conversions, self.value, self.nulls)


def _numeric(df: pd.DataFrame, col: str | None, source: str, *, required: bool) -> np.ndarray:
    if col is None:
        return np.zeros(len(df), dtype=np.float64)
    if col not in df.columns:
        if required:
            raise PathsError(f"{source}: missing column {col!r} (have {list(df.columns)})")
        return np.zeros(len(df), dtype=np.float64)
    raw = df[col]
    if pd.api.types.is_float_dtype(raw.dtype) or pd.api.types.is_integer_dtype(raw.dtype):
        vals = raw.to_numpy(dtype=np.float64, na_value=np.nan)  # already numbers: no parse
    else:
        vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(vals) | (vals < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PathsError(
            f"{source}: row {i + 1}, field {col!r}: expected a finite number >= 0, got {raw.iloc[i]!r}"
        )
    return vals


def encode_paths(
    df: pd.DataFrame,
    *,
    var_path: str = "path",
    var_conv: str = "total_conversions",
    var_value: str | None = "total_conversion_value",
    var_null: str | None = "total_null",
    sep: str = DEFAULT_SEP,
    source: str = "paths",
    group_duplicates: bool = False,
) -> EncodedPaths:
    """Parse a paths table into integer arrays (vectorised; no per-row Python).

    `group_duplicates=True` merges rows with the same path string first (their conversions, value
    and nulls summed), so a table with one row per journey is parsed once per distinct path: the
    models that only need weighted sums per path (Markov) ask for it; row i of the result is then
    no longer row i of `df`. Done only when a sample of the first rows shows many repeats.

    Channels are trimmed of surrounding whitespace, so 'a>b', 'a > b' and 'a >b' agree with
    sep '>' or ' > ' (ChannelAttribution trims the same way). Channel ids follow sorted names,
    which makes every result independent of row order. Row numbers in errors are 1-based data rows.
    """
    if var_path not in df.columns:
        raise PathsError(f"{source}: missing column {var_path!r} (have {list(df.columns)})")
    conv = _numeric(df, var_conv, source, required=True)
    value = _numeric(df, var_value, source, required=False)
    nulls = _numeric(df, var_null, source, required=False)

    col = df[var_path]
    try:
        arr = pa.array(col)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        obj = col.astype(object).where(col.notna(), None).to_numpy(dtype=object)
        arr = pa.array([v if v is None else str(v) for v in obj], type=pa.string())
    if arr.null_count:
        i = int(np.flatnonzero(pc.is_null(arr).to_numpy(zero_copy_only=False))[0])
        raise PathsError(f"{source}: row {i + 1}, field {var_path!r}: empty path")
    row_of = None  # grouped: the first df row of each distinct path, for error messages
    if group_duplicates:
        grouped = _group_rows(arr)
        if grouped is not None:
            idx, arr = grouped
            k = len(arr)
            conv, value, nulls = (np.bincount(idx, weights=w, minlength=k) for w in (conv, value, nulls))
            row_of = idx
    token = sep.strip() or sep
    fast = _tokenize(arr, token)
    if fast is not None:
        raw_codes, offsets, raw_names = fast
    else:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=pa.string())
        lists = pc.split_pattern(arr, pattern=token)
        flat = lists.flatten()
        offsets = lists.offsets.to_numpy().astype(np.int64)
        offsets = offsets - offsets[0]
        denc = pc.dictionary_encode(flat)
        raw_names = denc.dictionary.to_pylist()
        raw_codes = denc.indices.to_numpy(zero_copy_only=False)
    # trim whitespace on the (few) distinct tokens only, then merge tokens equal after trimming
    trimmed = np.asarray([t.strip() for t in raw_names], dtype=object)
    if len(trimmed) and (trimmed == "").any():
        bad_ids = np.flatnonzero(trimmed == "")
        pos = int(np.flatnonzero(np.isin(raw_codes, bad_ids))[0])
        row = int(np.searchsorted(offsets, pos, side="right") - 1)
        if row_of is not None:
            row = int(np.flatnonzero(row_of == row)[0])
        raise PathsError(
            f"{source}: row {row + 1}, field {var_path!r}: empty channel name in {col.iloc[row]!r}"
        )
    names, rank = np.unique(trimmed.astype(str), return_inverse=True) if len(trimmed) else (np.zeros(0, str), np.zeros(0, np.int64))
    if not len(raw_codes):
        codes = np.zeros(0, dtype=np.int32)
    elif np.array_equal(rank, np.arange(len(rank))):  # the fast tokenizer already sorted the names
        codes = raw_codes.astype(np.int32, copy=False)
    else:
        codes = rank.astype(np.int32)[raw_codes]
    return EncodedPaths(tuple(names.tolist()), codes, offsets.astype(np.int64), conv, value, nulls)


_GROUP_SAMPLE = 10_000


def _group_rows(arr) -> tuple[np.ndarray, pa.Array] | None:
    """(distinct id of each row, distinct path strings in first-seen order), or None when grouping
    would not pay: fewer than half of a sample of the first rows repeat an earlier one.

    Why: on one-row-per-journey tables (1M short journeys, a few thousand distinct paths) parsing
    and counting every row was most of the model's time; one hash pass over the strings
    (Arrow's dictionary_encode) shrinks everything downstream to the distinct paths.
    """
    n = len(arr)
    if n < 2:
        return None
    sample = arr.slice(0, _GROUP_SAMPLE)
    if pc.count_distinct(sample).as_py() > len(sample) // 2:
        return None
    if isinstance(arr, pa.ChunkedArray):  # joined only when grouping (a copy of every string)
        arr = arr.combine_chunks()
    denc = pc.dictionary_encode(arr)
    return denc.indices.to_numpy(zero_copy_only=False).astype(np.int64), denc.dictionary


def _tokenize_chunk(arr, sep_byte: int):
    """Split one Arrow string array into channel tokens without materialising 10M small strings.

    Why: pyarrow's split_pattern builds a list array of every token, which dominated the whole
    Markov model at 1M paths. Paths are contiguous in the Arrow data buffer, so the tokens are
    too: token i spans from its start to the next token's start (name, then the separator and its
    spaces, except for a path's last token). Those spans are a zero-copy Arrow string array whose
    dictionary encoding (one C++ hash pass) has only ~2 entries per channel; the separator and
    whitespace are stripped from the few dictionary entries afterwards, in Python.
    The span boundaries come from one mask: the separator bytes, plus the last byte of every path
    (a token ends there too), so one flatnonzero gives every token's end and the next one's start
    with no merging of two position lists. Paths that are empty or end in the separator (whose
    tokens the caller reports as empty channel names) take the general route below.
    Returns (raw codes int32, token offsets per path int64, raw dictionary as Python strings).
    """
    bufs = arr.buffers()
    off_dtype = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    off = np.frombuffer(bufs[1], dtype=off_dtype)[arr.offset: arr.offset + len(arr) + 1].astype(np.int64)
    lo, hi = int(off[0]), int(off[-1])
    data = np.frombuffer(bufs[2], dtype=np.uint8)[lo:hi] if bufs[2] is not None and hi > lo else np.zeros(0, np.uint8)
    off -= lo
    ends = off[1:] - 1
    mask = data == sep_byte
    offsets_type = pa.int64() if len(data) >= 2**31 else pa.int32()
    if len(off) > 1 and (ends >= off[:-1]).all() and not mask[ends].any():
        mask[ends] = True
        bounds = np.flatnonzero(mask)
        del mask
        n_tok = len(bounds)
        starts = np.empty(n_tok + 1, dtype=offsets_type.to_pandas_dtype())
        starts[0] = 0
        np.add(bounds, 1, out=starts[1:], casting="unsafe")
        tok_off = np.empty(len(off), dtype=np.int64)
        tok_off[0] = 0
        tok_off[1:] = np.searchsorted(bounds, ends) + 1
        del bounds
    else:
        sep_pos = np.flatnonzero(mask)  # the mask is untouched on this route
        del mask
        tok_off = np.searchsorted(sep_pos, off) + np.arange(len(off), dtype=np.int64)
        n_tok = int(tok_off[-1])
        starts64 = np.empty(n_tok + 1, dtype=np.int64)
        is_first = np.zeros(n_tok, dtype=bool)
        is_first[tok_off[:-1]] = True
        starts64[:-1][is_first] = off[:-1]
        starts64[:-1][~is_first] = sep_pos + 1
        starts64[-1] = len(data)
        del is_first, sep_pos
        starts = starts64.astype(offsets_type.to_pandas_dtype())
    spans = pa.Array.from_buffers(
        pa.large_string() if offsets_type == pa.int64() else pa.string(),
        n_tok,
        [None, pa.py_buffer(starts), pa.py_buffer(data)],
    )
    enc = pc.dictionary_encode(spans)
    return enc.indices.to_numpy(zero_copy_only=False), tok_off, enc.dictionary.to_pylist()


def _tokenize(arr, token: str):
    """All chunks of `arr` tokenized: (codes, token offsets per path, channel names by code), the
    names sorted (so code order is name order and the caller needs no second remapping pass).

    None when the separator is not a single byte (the caller then uses pyarrow's split)."""
    tb = token.encode("utf-8")
    if len(tb) != 1:
        return None
    chunks = arr.chunks if hasattr(arr, "chunks") else [arr]
    step = 250_000  # bounded temporaries, whatever the chunking of the input
    pieces = [c.slice(i, step) for c in chunks for i in range(0, len(c), step)]
    names: dict[str, int] = {}
    raws, maps, offsets_out, base = [], [], [np.zeros(1, dtype=np.int64)], 0
    for piece in pieces:
        raw_codes, tok_off, raw = _tokenize_chunk(piece, tb[0])
        mapping = np.empty(len(raw), dtype=np.int32)
        for i, entry in enumerate(raw):
            name = entry.strip()
            if name.endswith(token):
                name = name[: -len(token)].strip()
            mapping[i] = names.setdefault(name, len(names))
        raws.append(raw_codes)
        maps.append(mapping)
        offsets_out.append(tok_off[1:] + base)
        base += int(tok_off[-1])
    found = list(names)
    order = np.argsort(np.asarray(found, dtype=object), kind="stable") if found else np.zeros(0, np.int64)
    rank = np.empty(len(found), dtype=np.int32)
    rank[order] = np.arange(len(found), dtype=np.int32)
    # each piece's codes remapped straight into the one output array (no per-piece copies to join:
    # fresh memory is slow to fault in, and at 15M touches those copies were 0.2 s of a first call)
    codes = np.empty(base, dtype=np.int32)
    at = 0
    for r, m in zip(raws, maps):
        np.take(rank[m], r, out=codes[at: at + len(r)])
        at += len(r)
    return codes, np.concatenate(offsets_out), [found[i] for i in order]


def decode_paths(enc: EncodedPaths, sep: str = DEFAULT_SEP) -> list[str]:
    """Path strings back from codes (for export and messages; not used in hot loops)."""
    names = np.asarray(enc.channels, dtype=object)
    toks = names[enc.codes]
    return [sep.join(toks[a:b]) for a, b in zip(enc.offsets[:-1], enc.offsets[1:])]


def read_paths(path: str | os.PathLike[str], *, sep: str = ",") -> pd.DataFrame:
    """Read a paths csv / csv.gz (compression from the suffix) and validate its columns.

    Returns the four PATH_COLUMNS (total_conversion_value and total_null default to 0 when absent);
    bad numbers raise PathsError naming file, row and field.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"paths file not found: {p}")
    df = pd.read_csv(p, sep=sep, dtype={"path": "string"}, keep_default_na=False, na_values={"path": []})
    df.columns = [c.strip() for c in df.columns]
    if "path" not in df.columns:
        raise PathsError(f"{p}: missing column 'path' (have {list(df.columns)})")
    out = pd.DataFrame({"path": df["path"].astype(str)})
    for col in PATH_COLUMNS[1:]:
        out[col] = _numeric(df, col, str(p), required=(col == "total_conversions"))
    blank = out["path"].str.strip().eq("")
    if blank.any():
        i = int(np.flatnonzero(blank.to_numpy())[0])
        raise PathsError(f"{p}: row {i + 1}, field 'path': empty path")
    return out


# ---------------------------------------------------------------------------------------------
# From the store: journeys -> paths
# ---------------------------------------------------------------------------------------------

def conversion_touches(
    con,
    target: el.Target | str = "won",
    revenue_type: str | None = "new_business",
    scope: str = "account",
    lookback_days: float | None = None,
    weighted: bool = False,
    *,
    non_converting: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two journey tables the ledger rows of the data-driven models are built from (and the
    pandas reference of `paths_expr`, which tests compare it with).

    Conversions and eligible touches come from `revline.attribution.eligibility`, the same
    definitions the rule models use (won = won opportunities at closed_at, opportunity = created_at,
    lead/mql/sql from milestones and stage events, lookback window, amounts in USD), so the
    data-driven and rule models credit exactly the same journeys.

    Returns (conversions, touches):
    - conversions: conversion_id, conversion_type, value (USD amount; 0 for lead/mql/sql),
      revenue_type, converted_at (`weighted`: opportunity amounts times probability);
    - touches: conversion_id, entity_id, touchpoint_id, channel, campaign_id, occurred_at, seq
      (1-based order in the journey) for every eligible (conversion, touch) pair, plus the touches of
      entities (accounts, or persons for person scopes) that never reached the milestone, with
      conversion_id NULL: the non-converting journeys (left out with `non_converting=False`: the
      ledger does not need them, and they are most of the touches).
    """
    t_ = target if isinstance(target, el.Target) else el.Target(
        target, revenue_type, scope, lookback_days, weighted)  # type: ignore[arg-type]  # checked by Target
    # a store connection, or any Ibis backend holding the canonical tables (store.engine: Spark)
    be = ibis_backend(con) if isinstance(con, duckdb.DuckDBPyConnection) else con
    conv, keys = el.conversions(be, t_)
    pairs = el.eligible_touches(be, conv, keys)
    conv_df = conv.select(
        "conversion_id", "conversion_type", value="amount_usd", revenue_type="revenue_type", converted_at="converted_at"
    ).execute()
    conv_df["value"] = conv_df["value"].astype("float64").fillna(0.0)
    conv_touch = pairs.select(
        "conversion_id", entity_id=pairs.conversion_id, touchpoint_id=pairs.touchpoint_id,
        channel=pairs.channel, campaign_id=pairs.campaign_id, occurred_at=pairs.occurred_at,
    )
    if non_converting:
        never = _never_converted(be, t_, keys)
        never = never.select(
            conversion_id=ibis.null("string"), entity_id=never.entity_id, touchpoint_id=never.touchpoint_id,
            channel=never.channel, campaign_id=never.campaign_id, occurred_at=never.occurred_at,
        )
        touches = conv_touch.union(never, distinct=False).execute()
    else:
        touches = conv_touch.execute()
    touches = touches.sort_values(["conversion_id", "entity_id", "occurred_at", "touchpoint_id"], na_position="last", kind="stable")
    grp = touches["conversion_id"].fillna("~" + touches["entity_id"].astype(str))
    touches["seq"] = grp.groupby(grp, sort=False).cumcount() + 1
    return conv_df, touches.reset_index(drop=True)


def _never_converted(be: Any, target: el.Target, keys: ir.Table) -> ir.Table:
    """Scoped touches (with `entity_id`) of the entities that never reached the milestone: accounts,
    or persons for the person scopes, without any conversion key of that kind."""
    t = el.scoped_touches(be)
    kind, entity = ("account", t.eff_account) if target.scope == "account" else ("person", t.person_id)
    k = keys.filter(keys.key_kind == kind)
    t = t.mutate(entity_id=entity).filter(entity.notnull())
    return t.anti_join(k, t.entity_id == k.key)


@reads("opportunities", "opportunity_contacts", "people", "milestones", "stage_events", "touchpoints", "fx_rates")
def paths_expr(be: Any, target: el.Target, sep: str = DEFAULT_SEP) -> ir.Table:
    """The paths table (PATH_COLUMNS, one row per distinct path, ordered by path) of `target`'s
    journeys, as one Ibis expression: portable, so `be` may be DuckDB's (`ibis_backend(con)`) or
    Spark's (`ibis.pyspark.connect(session)`) backend holding the canonical tables.

    Journeys are those of `conversion_touches` (the rule models' eligibility): each conversion's
    eligible touches (one conversion, valued at its USD amount, 0 when null), and all touches of
    each entity that never reached the milestone (one null); conversions without an eligible touch
    have no path. Channels run in (occurred_at, touchpoint_id) order, joined by `sep`.

    Why this shape: only the distinct paths (thousands, whatever the touch count) leave the
    backend; Markov and Shapley run on the driver over them (`markov_model(paths_expr(...)
    .to_pandas())`). The order inside a journey comes from sorting an array of (occurred_at,
    touchpoint_id, channel) structs, which DuckDB and Spark both sort field by field: Spark
    has no ordered aggregate (`collect(order_by=)`), and this needs no window either.
    """
    conv, keys = el.conversions(be, target)
    pairs = el.eligible_touches(be, conv, keys)
    never = _never_converted(be, target, keys)

    def steps(t: ir.Table) -> ir.Value:
        return ibis.struct({"at": t.occurred_at, "id": t.touchpoint_id, "channel": t.channel}).collect()

    converting = pairs.group_by("conversion_id").aggregate(
        steps=steps(pairs), value=pairs.amount_usd.cast("float64").max())
    converting = converting.select(
        "steps", conv=ibis.literal(1.0), value=converting.value.fill_null(0.0), null=ibis.literal(0.0))
    lost = never.group_by("entity_id").aggregate(steps=steps(never))
    lost = lost.select("steps", conv=ibis.literal(0.0), value=ibis.literal(0.0), null=ibis.literal(1.0))
    journeys = converting.union(lost, distinct=False)
    journeys = journeys.mutate(path=journeys.steps.sort().map(lambda s: s.channel).join(sep))
    out = journeys.group_by("path").aggregate(
        total_conversions=journeys.conv.sum(), total_conversion_value=journeys.value.sum(),
        total_null=journeys.null.sum())
    return out.order_by("path")


def paths_from_touches(
    conversions: pd.DataFrame, touches: pd.DataFrame, sep: str = DEFAULT_SEP
) -> pd.DataFrame:
    """Collapse journeys to the ChannelAttribution table (one row per distinct path).

    Conversions without any eligible touch have no path and are left out here (the ledger keeps
    them as unattributed); every non-converting entity counts one null.
    """
    t = touches.sort_values(["conversion_id", "entity_id", "seq"], na_position="last")
    grp = t["conversion_id"].fillna("~" + t["entity_id"].astype(str))
    joined = t.groupby(grp, sort=False)["channel"].agg(sep.join)
    conv_ids = set(conversions["conversion_id"])
    is_conv = joined.index.isin(conv_ids)
    vals = conversions.set_index("conversion_id")["value"]
    frame = pd.DataFrame(
        {
            "path": joined.to_numpy(),
            "total_conversions": is_conv.astype(np.float64),
            "total_conversion_value": np.where(is_conv, vals.reindex(joined.index).fillna(0.0).to_numpy(), 0.0),
            "total_null": (~is_conv).astype(np.float64),
        }
    )
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c != "path" else "object") for c in PATH_COLUMNS})
    out = frame.groupby("path", as_index=False, sort=True)[PATH_COLUMNS[1:]].sum()
    return out[PATH_COLUMNS]


def export_paths(
    con,
    milestone: str = "won",
    revenue_type: str | None = "new_business",
    scope: str = "account",
    *,
    lookback_days: float | None = None,
    sep: str = DEFAULT_SEP,
) -> pd.DataFrame:
    """Paths of every journey for one milestone and revenue type, as ChannelAttribution takes them.

    Converting: the eligible touches of each conversion (see `conversion_touches`), valued at the
    opportunity amount in USD (0 for lead/mql/sql). Non-converting: accounts (or persons) with
    touches that never reached the milestone, all their touches, one null each. Conversions with
    no eligible touch have no path (the ledger reports them unattributed).
    """
    target = el.Target(milestone, revenue_type, scope, lookback_days)  # type: ignore[arg-type]  # checked by Target
    return paths_frame(paths_expr(ibis_backend(con), target, sep=sep))


def paths_frame(expr: ir.Table) -> pd.DataFrame:
    """Run a `paths_expr` on its backend: the PATH_COLUMNS frame (float counts, sorted by path)."""
    df = expr.to_pandas()
    out = pd.DataFrame({"path": df["path"].astype(object)})
    for c in PATH_COLUMNS[1:]:
        out[c] = df[c].astype("float64")
    return out.sort_values("path", kind="stable").reset_index(drop=True)
