"""Markov-chain attribution of order k with EXACT removal effects.

Why exact: ChannelAttribution estimates P(conversion) by simulating random walks, so its removal
effects carry Monte-Carlo noise and cost time proportional to the simulations. The chain is an
absorbing Markov chain, so P(conversion) is a linear solve: with Q the transient-to-transient
transition matrix, b the one-step conversion probabilities and pi0 the start distribution,
P(conv) = pi0' (I - Q)^-1 b. We solve (I - Q)' x = pi0 once (x = expected visits) for the full
chain and once per removed channel (removing a channel sends its states to null, i.e. drops them
from the transient set): by dense LU for chains of up to DIRECT_MAX_STATES states (order 1, most
order 2), and above with the Neumann series, ended by a geometric tail once the residual of
the estimate is < 1e-15 (a certified bound on the error of P(conv); `_absorption_series_block`).
Measured on the five distributions of benchmarks/bench_markov.py, the series beat scipy's sparse LU on every chain above 100 states
(1.5-37x: order-2/3 fill-in is half dense), so sparse LU is only the explicit "direct" solver and
the fallback for a series that does not settle.

Conventions, checked against ChannelAttribution 2.2.5 (see tests/test_markov.py):
- States of order k are the overlapping k-tuples of a path's channels; a path shorter than k is a
  single state (its whole channel tuple). (start) leads to the first state, the last state to
  (conversion) with weight total_conversions and to (null) with weight total_null; every inner
  transition is weighted by total_conversions + total_null.
- `collapse_repeats=True` (default, as ChannelAttribution) merges consecutive repeated *states*
  (self-loops are dropped). At order 1 this is merging repeated channels (a > a > b = a > b). A
  self-loop never changes absorption probabilities, so the option only changes the reported
  transition matrix. `collapse_channels=True` additionally merges repeated channels *before*
  forming k-tuples (a > a > b becomes the single state (a, b) at order 2); ChannelAttribution does
  not do this at order >= 2, so it is off by default.
- Value: ChannelAttribution attaches to each state the mean value of the conversions that end
  there (their total_conversion_value / total_conversions) and computes a value-weighted removal
  effect: 1 - E[value | channel removed] / E[value]. We compute the same expectation exactly.
- Attribution: channel conversions = removal effect / sum of removal effects x total conversions
  (and the same with value removal effects x total value).
Difference to ChannelAttribution: its simulated walks stop after `max_step` channel states,
by default the longest path in the data, so on chains with loops it under-counts conversions
that need longer walks (by a few points of removal effect on short-path data; verified: with a
large `max_step` its estimates converge to ours). We default to the untruncated exact limit, and
`max_step=k` computes CA's truncated quantity exactly (sum of pi0 Q^t b for t < k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from revline.attribution.paths import DEFAULT_SEP, EncodedPaths, encode_paths

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
MAX_ORDER = 4


@dataclass(frozen=True)
class MarkovChain:
    """The fitted chain over compact state ids 0..S-1 (absorbing states kept as vectors)."""

    channels: tuple[str, ...]
    order: int
    state_codes: np.ndarray  # int64 per state: base-(n+1) digits of the channel tuple (+1 each)
    counts: sp.csr_matrix  # S x S transition weights between transient states
    start: np.ndarray  # weight from (start) into each state
    to_conv: np.ndarray  # weight into (conversion)
    to_null: np.ndarray  # weight into (null)
    conv_value: np.ndarray  # value of the conversions ending in each state

    @property
    def n_states(self) -> int:
        return len(self.state_codes)

    def state_channels(self) -> np.ndarray:
        """S x n boolean: does state s contain channel c."""
        n = len(self.channels)
        base = n + 1
        member = np.zeros((self.n_states, n), dtype=bool)
        codes = self.state_codes.copy()
        rows = np.arange(self.n_states)
        for _ in range(self.order):
            digit = codes % base
            ok = digit > 0
            member[rows[ok], digit[ok] - 1] = True
            codes //= base
        return member

    def state_names(self, sep: str = ", ") -> list[str]:
        base = len(self.channels) + 1
        out = []
        for code in self.state_codes.tolist():
            parts = []
            while code:
                parts.append(self.channels[code % base - 1])
                code //= base
            out.append(sep.join(reversed(parts)))
        return out


_DENSE_CODES = 1 << 24  # state-code spaces up to this size are compacted with a lookup table
_DENSE_PAIRS = 1 << 22  # S*S up to this size: transitions counted with one bincount (32 MB)


def _state_sequences(enc: EncodedPaths, order: int, collapse_repeats: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each path as a sequence of k-tuple state codes (CSR: codes, offsets per path).

    A state code is the tuple's channel ids + 1 as base-(n+1) digits, the latest channel lowest,
    so tuples of different lengths (short paths) never collide. Built with shifted slices of one
    flat array plus small fix-ups at path heads (scatters over paths, not positions): no per-path
    Python and no full-length index arrays.
    """
    n = len(enc.channels)
    base = n + 1
    if order * np.log2(base) > 62:
        raise ValueError(f"order {order} with {n} channels overflows the 64-bit state code")
    dtype = np.int32 if base**order < 2**31 else np.int64
    lengths = enc.lengths
    starts = enc.offsets[:-1]
    code: np.ndarray = enc.codes.astype(dtype) + 1
    offsets = enc.offsets
    if order > 1:
        digits: np.ndarray = code.copy()
        for shift in range(1, order):
            mult = dtype(base**shift)
            code[shift:] += digits[:-shift] * mult
            # positions closer than `shift` to their path's start took a digit of the previous path
            for t in range(shift):
                heads = starts[lengths > t] + t
                code[heads] -= _safe_sub(digits, heads, shift) * mult
        del digits
        # keep the k-tuples ending at position >= k-1, or a short path's single whole-path state
        n_drop = np.minimum(lengths, order) - 1
        drop = np.zeros(len(code), dtype=bool)
        for t in range(order - 1):
            drop[starts[n_drop > t] + t] = True
        code = code[~drop]
        del drop
        new_len = lengths - n_drop
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(new_len, out=offsets[1:])
    if collapse_repeats:
        code, offsets = _collapse(code, offsets)
    return code, offsets


def _collapse(code: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop each state equal to the one before it in the same path (CSR in, CSR out)."""
    if not len(code):
        return code, offsets
    keep = np.empty(len(code), dtype=bool)
    keep[0] = True
    np.not_equal(code[1:], code[:-1], out=keep[1:])
    keep[offsets[:-1][np.diff(offsets) > 0]] = True
    dropped = np.flatnonzero(~keep)
    if len(dropped):
        # a path's new offset moves back by the drops before it (few, so no cumsum over every state)
        offsets = offsets - np.searchsorted(dropped, offsets)
        code = code[keep]
    return code, offsets


def _safe_sub(digits: np.ndarray, heads: np.ndarray, shift: int) -> np.ndarray:
    """digits[heads - shift], 0 where that index would fall before the array."""
    out = np.zeros(len(heads), dtype=digits.dtype)
    ok = heads >= shift
    out[ok] = digits[heads[ok] - shift]
    return out


def _compact(codes: np.ndarray, order: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct codes sorted, id of each code) -- a lookup table when the code space is small."""
    space = (n + 1) ** order
    if space <= _DENSE_CODES:
        present = np.zeros(space, dtype=bool)
        present[codes] = True
        uniq = np.flatnonzero(present)
        table = np.zeros(space, dtype=np.int32)
        table[uniq] = np.arange(len(uniq), dtype=np.int32)
        return uniq.astype(np.int64), table[codes]
    uniq, sid = np.unique(codes, return_inverse=True)
    return uniq.astype(np.int64), sid.astype(np.int64)


_CHUNK_TOUCHES = 1 << 20  # touches per chunk of the order-1 transition count (8 MB temporaries)
_CHUNKED_MAX_PAIRS = 1 << 20  # ... for up to 1024 channels (the flat count array is added once per chunk)


def _pair_counts_chunked(sid: np.ndarray, offsets: np.ndarray, weight: np.ndarray, S: int, *, drop_self: bool) -> np.ndarray:
    """Flat S*S weighted counts of the transitions state i -> i+1 within each path (pair code
    from * S + to), counted over chunks of whole paths of about _CHUNK_TOUCHES touches.

    Why: at 1M paths of 15 touches the one-shot count built three full-length temporaries (the
    collapsed codes, one weight per touch, the int64 pair codes: 0.3 GB), and on this machine
    fresh memory costs ~2 ms per MB to fault in, so a single call spent more on mapping memory
    than on counting. Chunks of 8 MB are reused from the allocator's heap. With `drop_self`
    (collapse_repeats) the self-transitions are dropped at the end: collapsing runs of a state
    leaves exactly the transitions between consecutive unequal states, so counting all pairs and
    zeroing the diagonal is the same count without a collapse pass.
    """
    flat = np.zeros(S * S)
    n_paths = len(offsets) - 1
    p0 = 0
    while p0 < n_paths:
        p1 = int(np.searchsorted(offsets, offsets[p0] + _CHUNK_TOUCHES, side="right")) - 1
        p1 = min(max(p1, p0 + 1), n_paths)
        s, e = int(offsets[p0]), int(offsets[p1])
        if e - s > 1:
            c = sid[s:e]
            pair = c[:-1].astype(np.int64) * S
            pair += c[1:]
            w = np.repeat(weight[p0:p1], np.diff(offsets[p0: p1 + 1]))[:-1]
            ends = offsets[p0 + 1: p1] - (s + 1)  # each path's last touch: no transition out of it
            w[ends[(ends >= 0) & (ends < len(w))]] = 0.0
            flat += np.bincount(pair, weights=w, minlength=S * S)
        p0 = p1
    if drop_self:
        flat[:: S + 1] = 0.0
    return flat


def _csr_from_flat(flat: np.ndarray, S: int) -> sp.csr_matrix:
    """CSR straight from flat row-major S*S counts (ascending pair codes are row-major order);
    scipy's conversion from a dense 2-D array went through COO and cost more than the counting."""
    nzp = np.flatnonzero(flat)
    indptr = np.zeros(S + 1, dtype=np.int64)
    np.cumsum(np.bincount(nzp // S, minlength=S), out=indptr[1:])
    return sp.csr_matrix((flat[nzp], nzp % S, indptr), shape=(S, S))


def _pair_counts(sid: np.ndarray, offsets: np.ndarray, weight: np.ndarray, S: int) -> sp.csr_matrix:
    """S x S weighted counts of the transitions state i -> i+1 within each path, in one pass."""
    # a path's last state has no transition out, so it gets weight 0 (one pass over the flat
    # states, no boolean compress)
    N = len(sid)
    if N > 1:
        frm, to = sid[:-1], sid[1:]
        w = np.repeat(weight, np.diff(offsets))[:-1]
        ends = offsets[1:-1]
        w[ends[ends > 0] - 1] = 0.0
    else:
        w, frm, to = np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if S * S <= min(_DENSE_PAIRS, 8 * max(N, 1)):  # the flat count array must not dwarf the touches
        pair = frm.astype(np.int64) * S
        pair += to
        flat = np.bincount(pair, weights=w, minlength=S * S)
        del pair
        return _csr_from_flat(flat, S)
    nz = w > 0
    counts = sp.coo_matrix((w[nz], (frm[nz], to[nz])), shape=(S, S)).tocsr()
    counts.sum_duplicates()
    return counts


_CODE_KEYS_MAX = 1 << 22  # (state code, next channel) keys counted densely up to this many (32 MB)


def _fit_by_code_chunked(
    enc: EncodedPaths, order: int, collapse_repeats: bool, weight: np.ndarray
) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Order >= 2 when the state-code space is small: (state codes, counts, start, to_conv,
    to_null, conv_value) as `fit_chain` builds them, from chunks of whole paths.

    Why: a transition between k-tuple states is fixed by its origin and the channel it appends
    (k-tuples slide by one channel; a path shorter than k is one state and has no transition,
    and collapsing repeats only drops a state equal to the one before it, so the next kept state
    still appends one channel to it). So transitions are counted with one bincount over
    (origin code, appended channel) keys -- a space of (n+1)^k * n, 0.9M at order 3 over 30
    channels -- where the general route compacted the states of every touch and summed 10M
    (from, to) pairs through COO-to-CSR (1.0 s of 1.9 s on 1M rare-conversion paths). The states
    are compacted once at the end, and chunks of about _CHUNK_TOUCHES touches keep every
    temporary small (fresh memory is slow to fault in).
    """
    n = len(enc.channels)
    base = n + 1
    space = base**order
    flat = np.zeros(space * n)
    present = np.zeros(space, dtype=bool)
    start, to_conv, to_null, conv_value = (np.zeros(space) for _ in range(4))
    offsets = enc.offsets
    n_paths = enc.n_paths
    p0 = 0
    while p0 < n_paths:
        p1 = int(np.searchsorted(offsets, offsets[p0] + _CHUNK_TOUCHES, side="right")) - 1
        p1 = min(max(p1, p0 + 1), n_paths)
        s, e = int(offsets[p0]), int(offsets[p1])
        part = EncodedPaths(
            enc.channels, enc.codes[s:e], offsets[p0: p1 + 1] - s, enc.conversions[p0:p1], enc.value[p0:p1],
            enc.nulls[p0:p1],
        )
        code, off = _state_sequences(part, order, collapse_repeats)
        code = code.astype(np.int64, copy=False)
        present[code] = True
        wt = weight[p0:p1]
        lens = np.diff(off)
        live = (wt > 0) & (lens > 0)
        first, last = code[off[:-1][live]], code[off[1:][live] - 1]
        start += np.bincount(first, weights=wt[live], minlength=space)
        to_conv += np.bincount(last, weights=part.conversions[live], minlength=space)
        to_null += np.bincount(last, weights=part.nulls[live], minlength=space)
        conv_value += np.bincount(last, weights=part.value[live], minlength=space)
        if len(code) > 1:
            key = code[:-1] * n
            key += code[1:] % base - 1  # the channel the next state appends (its lowest digit)
            w = np.repeat(wt, lens)[:-1]
            ends = off[1:-1] - 1  # each path's last state: no transition out of it
            w[ends[(ends >= 0) & (ends < len(w))]] = 0.0
            flat += np.bincount(key, weights=w, minlength=space * n)
        p0 = p1
    uniq = np.flatnonzero(present)
    table = np.zeros(space, dtype=np.int64)
    table[uniq] = np.arange(len(uniq))
    nzk = np.flatnonzero(flat)
    frm_code, d = np.divmod(nzk, n)
    to_code = (frm_code % (space // base)) * base + d + 1
    S = len(uniq)
    counts = sp.csr_matrix((flat[nzk], (table[frm_code], table[to_code])), shape=(S, S))
    counts.sum_duplicates()
    return uniq.astype(np.int64), counts, start[uniq], to_conv[uniq], to_null[uniq], conv_value[uniq]


def fit_chain(
    enc: EncodedPaths,
    order: int = 1,
    *,
    collapse_repeats: bool = True,
    collapse_channels: bool = False,
) -> MarkovChain:
    """Count weighted transitions between k-tuple states (vectorised over all paths)."""
    if not isinstance(order, (int, np.integer)) or not 1 <= order <= MAX_ORDER:
        raise ValueError(f"order must be an integer in 1..{MAX_ORDER}, got {order!r}")
    weight = enc.conversions + enc.nulls
    if collapse_channels:
        enc = enc.collapse_repeats()
    n = len(enc.channels)
    if order >= 2 and (n + 1) ** order * n <= _CODE_KEYS_MAX:
        uniq, counts, start, to_conv, to_null, conv_value = _fit_by_code_chunked(enc, int(order), collapse_repeats, weight)
        counts.eliminate_zeros()
        return MarkovChain(enc.channels, int(order), uniq, counts, start, to_conv, to_null, conv_value)
    chunked = order == 1 and n * n <= _CHUNKED_MAX_PAIRS
    if chunked:
        # order 1 over few channels: the channel ids are the state ids, and the transitions are
        # counted in chunks of whole paths straight from the codes (`_pair_counts_chunked`: no
        # collapse pass, no full-length temporaries); collapsing repeats changes neither a path's
        # first nor its last channel, so those come from the codes as they are
        sid, offsets = enc.codes, enc.offsets
        uniq = np.arange(1, n + 1, dtype=np.int64)
    elif order == 1:
        # order 1: the states are the channels and every channel of `enc` occurs in it, so the raw
        # channel ids are the compact state ids (no code, no lookup: two passes fewer per touch)
        sid, offsets = _collapse(enc.codes, enc.offsets) if collapse_repeats else (enc.codes, enc.offsets)
        uniq = np.arange(1, n + 1, dtype=np.int64)
    else:
        codes, offsets = _state_sequences(enc, int(order), collapse_repeats)
        uniq, sid = _compact(codes, int(order), n)
        del codes
    S = len(uniq)
    counts_per_path = np.diff(offsets)
    live = (weight > 0) & (counts_per_path > 0)
    first_state = sid[offsets[:-1][live]]
    last_state = sid[offsets[1:][live] - 1]
    if chunked:
        counts = _csr_from_flat(_pair_counts_chunked(sid, offsets, weight, S, drop_self=collapse_repeats), S)
    else:
        counts = _pair_counts(sid, offsets, weight, S)
    counts.eliminate_zeros()
    start = np.bincount(first_state, weights=weight[live], minlength=S)
    to_conv = np.bincount(last_state, weights=enc.conversions[live], minlength=S)
    to_null = np.bincount(last_state, weights=enc.nulls[live], minlength=S)
    conv_value = np.bincount(last_state, weights=enc.value[live], minlength=S)
    return MarkovChain(enc.channels, int(order), uniq, counts, start, to_conv, to_null, conv_value)


DIRECT_MAX_STATES = 100  # auto: dense LU up to here, the certified series above
SERIES_TOL = 1e-15


@dataclass(frozen=True)
class _System:
    """Row-normalised chain: Q' (CSR), one-step conversion b, value-weighted bv, start pi0."""

    QT: sp.csr_matrix
    b: np.ndarray
    bv: np.ndarray
    pi0: np.ndarray


def _system(chain: MarkovChain) -> _System:
    out_w = np.asarray(chain.counts.sum(axis=1)).ravel() + chain.to_conv + chain.to_null
    safe = np.where(out_w > 0, out_w, 1.0)
    b = chain.to_conv / safe
    # value removal effects are ratios, so the value scale is free: rescale it to a maximum of 1
    # first, or tiny values (a 5e-324 conversion value) underflow to 0 on the way and the channel
    # that carries all the value gets a removal effect of 0 instead of 1
    top = chain.conv_value.max(initial=0.0)
    value = chain.conv_value / top if top > 0 else chain.conv_value
    mean_value = np.divide(value, chain.to_conv, out=np.zeros_like(value), where=chain.to_conv > 0)
    total_start = chain.start.sum()
    pi0 = chain.start / total_start if total_start > 0 else np.zeros_like(chain.start)
    # row-normalise by scaling the CSR data in place of a diagonal-matrix product (same numbers,
    # none of the sparse-product overhead that counted on 10k-path tables)
    Q = chain.counts.copy()
    Q.data = Q.data / np.repeat(safe, np.diff(Q.indptr))
    return _System(Q.T.tocsr(), b, b * mean_value, pi0)


def _visits(sys_: _System, keep: np.ndarray | None, max_step: int | None, solver: str) -> np.ndarray:
    """Expected visits x of every state, only `keep` states transient (dropped ones go to null).

    Exact either way: "direct" solves (I - Q_KK)' x = pi0_K by sparse LU (scipy splu);
    "series" sums x = sum_t (Q' D)^t D pi0 until the probability mass still in transient states
    is below 1e-15 -- every later term adds at most that mass to P(conversion), so the result is
    certified to 1e-15 absolute, and at thousands of states it is ~100x faster than LU, whose
    fill-in on a well-connected order-3 chain is half dense. With `max_step` the sum stops after
    that many terms (ChannelAttribution's walk cap).
    """
    S = len(sys_.pi0)
    d = np.ones(S) if keep is None else keep.astype(np.float64)
    x0 = sys_.pi0 * d
    if max_step is not None or solver == "series":  # removal_effects picks the solver; here "direct" or "series"
        total = np.zeros(S)
        y = x0
        steps = int(max_step) if max_step is not None else 1_000_000
        for _ in range(steps):
            total += y
            y = (sys_.QT @ y) * d
            if max_step is None and y.sum() < SERIES_TOL:
                return total
        if max_step is not None:
            return total
        solver = "direct"  # pathological slow mixing: fall back to LU
    idx = np.arange(S) if keep is None else np.flatnonzero(keep)
    out = np.zeros(S)
    if len(idx) == 0 or not x0.any():
        return out
    QT = sys_.QT[idx][:, idx]
    A = (sp.identity(len(idx), format="csc") - QT).tocsc()
    out[idx] = splu(A).solve(x0[idx])
    return out




def _visits_dense(sys_: _System, keeps: np.ndarray) -> np.ndarray:
    """`_visits` by dense LU (numpy) for every column of `keeps`, for chains of up to DIRECT_MAX_STATES.

    Why: at order 1-2 a chain has tens of states, and scipy's sparse LU costs ~1 ms of fixed
    overhead per solve (matrix slicing, format checks), which was most of the model's time on
    10k-path tables; a dense solve of a 30 x 30 system takes microseconds. Same linear system
    as the "direct" solver, so the same exact result up to round-off.
    """
    S, m = keeps.shape
    A = np.eye(S) - sys_.QT.toarray()
    out = np.zeros((S, m))
    for j in range(m):
        idx = np.flatnonzero(keeps[:, j])
        rhs = sys_.pi0[idx]
        if len(idx) and rhs.any():
            out[idx, j] = np.linalg.solve(A[np.ix_(idx, idx)], rhs)
    return out


try:  # scipy's own CSR times dense-block kernel, called without the ~80 us of dispatch per product
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - a scipy that moved it: the public operator below
    _csr_matvecs = None


def _spmm(A: sp.csr_matrix, Y: np.ndarray) -> np.ndarray:
    """A @ Y for CSR A and a dense S x m block.

    Why not just `A @ Y`: on chains of a few hundred states the series takes ~100 products of
    well under 0.1 ms of arithmetic each, and scipy's operator dispatch (format and shape checks,
    index dtype upcasts) was most of the solve; the kernel it ends in is called directly here.
    """
    if _csr_matvecs is None or A.indptr.dtype != A.indices.dtype:
        return np.asarray(A @ Y)
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    out = np.zeros((A.shape[0], Y.shape[1]))
    _csr_matvecs(A.shape[0], A.shape[1], Y.shape[1], A.indptr, A.indices, A.data, Y.ravel(), out.ravel())
    return out


_BLOCK_ENTRIES = 1 << 22  # 32 MB per S x width float64 array in the block series


def _visits_series_block(sys_: _System, keeps: np.ndarray, max_step: int | None) -> np.ndarray:
    """`_visits` by the series for every column of `keeps` (S x m) at once: one sparse
    matrix-times-block product per step instead of m matrix-vector products.

    Why: with long paths over many channels (order 3, 30 channels, 15k states) the series needs
    hundreds of steps, and 31 separate solves made revline slower than ChannelAttribution's walks.
    Each column follows exactly the per-column rule of `_visits` (a column stops at its own first
    term with mass < 1e-15, uncounted), so the result is the same certified value. Columns still
    unconverged after 1M steps fall back to LU, as in `_visits`.
    """
    S, m = keeps.shape
    total = np.zeros((S, m))
    cols = np.arange(m)
    Dc = keeps.astype(np.float64)  # masks of the columns still summing (compacted as they stop)
    Y = sys_.pi0[:, None] * Dc
    acc = np.zeros_like(Y)
    steps = int(max_step) if max_step is not None else 1_000_000
    for _ in range(steps):
        acc += Y
        Y = _spmm(sys_.QT, Y)
        Y *= Dc
        if max_step is None:
            live = Y.sum(axis=0) >= SERIES_TOL
            if not live.all():
                total[:, cols[~live]] = acc[:, ~live]
                cols, Y, Dc, acc = cols[live], Y[:, live], Dc[:, live], acc[:, live]
                if len(cols) == 0:
                    return total
    total[:, cols] = acc
    if max_step is None:
        for j in cols:  # pathological slow mixing: LU for what is left
            total[:, j] = _visits(sys_, keeps[:, j], None, "direct")
    return total


_CHECK_MAX_GAP = 16  # most steps between two residual checks of the series with its tail


def _spmm_into(A: sp.csr_matrix, Y: np.ndarray, out: np.ndarray) -> None:
    """A @ Y written into a preallocated C-contiguous block `out`: the series reuses its buffers,
    where a fresh S x m array per step (a few MB) is mapped and page-faulted anew each time."""
    if _csr_matvecs is None or A.indptr.dtype != A.indices.dtype:
        out[...] = A @ Y
        return
    out.fill(0.0)
    _csr_matvecs(A.shape[0], A.shape[1], Y.shape[1], A.indptr, A.indices, A.data, Y.ravel(), out.ravel())


def _absorption_series_block(sys_: _System, keeps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(b'x, bv'x) -- P(conversion) and the value expectation -- for every column of `keeps`, x
    the expected visits of `_visits`: the plain series of `_visits_series_block` plus a certified
    geometric tail.

    Why: on long walks (order 3, 30 channels, ~8 % exit per step) the mass left in transient
    states shrinks by only ~0.91 a step, so the plain series needed 370-420 products. That rate is
    the chain's dominant eigenvalue; the others are much smaller (|lam| <= 0.73 on the long
    journeys, an annulus of hundreds of them, so no polynomial acceleration gains more), so the
    series' term y_t soon is lam^t times one vector and the rest of the sum is y_t lam / (1 - lam).
    With s_t the sum of the terms up to t, the estimate x = s_t + y_t lam / (1 - lam) (lam the ratio
    of the masses of y_{t+1} and y_t) is accepted only when its residual r = x0 - (I - M) x, which
    is (y_{t+1} - lam y_t) / (1 - lam), has |r|_1 < SERIES_TOL: the error of b'x is h'r with h the
    conversion probability from each state, in [0, 1], so it is at most |r|_1 -- the certificate of
    the plain series, whose residual is the mass of y_{t+1} (also accepted, as there). The
    residual is checked at steps predicted from its own decay (it costs about a product), the
    buffers are reused (no allocation per step). ~3x fewer products on the long journeys.
    """
    S, m = keeps.shape
    P, V = np.zeros(m), np.zeros(m)
    ones = np.ones(S)
    cols = np.arange(m)
    Dc = keeps.astype(np.float64)
    Y = sys_.pi0[:, None] * Dc
    Z, R, acc = np.empty_like(Y), np.empty_like(Y), np.zeros_like(Y)
    next_check, gap, last_res, last_step = 1, 1, np.full(m, np.inf), 0
    active = np.ones(m, dtype=bool)  # columns of the block not yet finished
    for step in range(1, 1_000_001):
        acc += Y
        _spmm_into(sys_.QT, Y, Z)
        Z *= Dc
        if step == next_check:
            mass, mass_n = Y.T @ ones, Z.T @ ones
            lam = np.divide(mass_n, mass, out=np.zeros_like(mass), where=mass > 0)
            lam[~((lam > 0) & (lam < 1))] = 0.0  # no usable ratio: the plain series' test
            np.multiply(Y, lam, out=R)
            np.subtract(Z, R, out=R)
            np.abs(R, out=R)
            res = (R.T @ ones) / (1.0 - lam)
            done = active & ((res < SERIES_TOL) | (mass_n < SERIES_TOL))
            tail = np.where(mass_n < SERIES_TOL, 0.0, lam / (1.0 - lam))
            # next check: when the residual, falling at its observed rate, is predicted below the tolerance
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                rate = (res / last_res) ** (1.0 / max(step - last_step, 1))
                need = np.log(SERIES_TOL / res) / np.log(rate)
            need = need[active & ~done & (rate > 0) & (rate < 1) & np.isfinite(need)]
            gap = int(np.clip(np.ceil(need.min()), 1, _CHECK_MAX_GAP)) if len(need) else min(2 * gap, 4)
            last_res, last_step, next_check = res, step, step + gap
            if done.any():
                X = acc[:, done] + Y[:, done] * tail[done]
                P[cols[done]], V[cols[done]] = X.T @ sys_.b, X.T @ sys_.bv
                active &= ~done
                if not active.any():
                    return P, V
                if active.sum() <= 0.75 * len(active):  # drop the finished columns (a copy: not at every finish)
                    keep = np.flatnonzero(active)
                    cols, Dc, last_res, active = cols[keep], np.take(Dc, keep, axis=1), last_res[keep], active[keep]
                    Z, acc = np.take(Z, keep, axis=1), np.take(acc, keep, axis=1)
                    Y, R = np.empty_like(Z), np.empty_like(Z)
        Y, Z = Z, Y
    cols = cols[active]
    X = np.column_stack([_visits(sys_, keeps[:, j], None, "direct") for j in cols])  # pathological: LU
    P[cols], V[cols] = X.T @ sys_.b, X.T @ sys_.bv
    return P, V


def removal_effects(chain: MarkovChain, max_step: int | None = None, solver: str = "auto") -> pd.DataFrame:
    """Exact removal effect of every channel: 1 - P(conv | channel removed) / P(conv).

    solver: "auto" (dense LU up to DIRECT_MAX_STATES states, certified series above), "direct"
    (scipy's sparse LU per channel), "series".
    """
    if solver not in ("auto", "direct", "series"):
        raise ValueError(f"solver must be 'auto', 'direct' or 'series', got {solver!r}")
    sys_ = _system(chain)
    member = chain.state_channels()
    # column 0: the full chain; column 1 + c: channel c removed (its states dropped)
    keeps = np.concatenate([np.ones((chain.n_states, 1), dtype=bool), ~member], axis=1)
    if max_step is not None or solver == "series" or (solver == "auto" and chain.n_states > DIRECT_MAX_STATES):
        # column blocks of bounded size (a few S x width float arrays live at once)
        width = max(1, _BLOCK_ENTRIES // max(chain.n_states, 1))
        blocks = [keeps[:, j: j + width] for j in range(0, keeps.shape[1], width)]
        if max_step is None:  # the certified series with its geometric tail: P and V only
            PV = [_absorption_series_block(sys_, k) for k in blocks]
            P, V = np.concatenate([p for p, _ in PV]), np.concatenate([v for _, v in PV])
        else:  # ChannelAttribution's walk cap: exactly max_step terms of the plain series
            X = np.concatenate([_visits_series_block(sys_, k, max_step) for k in blocks], axis=1)
            P, V = X.T @ sys_.b, X.T @ sys_.bv
    else:
        if solver == "auto":  # at most DIRECT_MAX_STATES states
            X = _visits_dense(sys_, keeps)
        else:
            X = np.column_stack([_visits(sys_, keeps[:, j], None, solver) for j in range(keeps.shape[1])])
        P, V = X.T @ sys_.b, X.T @ sys_.bv
    # tiny negative round-off (a removed channel can never raise P(conv)) is clipped
    re_conv = np.clip(1.0 - P[1:] / P[0], 0.0, None) if P[0] > 0 else np.zeros(len(chain.channels))
    re_val = np.clip(1.0 - V[1:] / V[0], 0.0, None) if V[0] > 0 else np.zeros(len(chain.channels))
    return pd.DataFrame(
        {"channel_name": list(chain.channels), "removal_effects_conversion": re_conv,
         "removal_effects_conversion_value": re_val}
    )


def transition_matrix(chain: MarkovChain, *, state_sep: str = ", ") -> pd.DataFrame:
    """Transition probabilities with readable state names, (start)/(conversion)/(null) included."""
    names = np.asarray(chain.state_names(state_sep), dtype=object)
    out_w = np.asarray(chain.counts.sum(axis=1)).ravel() + chain.to_conv + chain.to_null
    safe = np.where(out_w > 0, out_w, 1.0)
    coo = chain.counts.tocoo()
    parts = [
        pd.DataFrame({"channel_from": START, "channel_to": names, "transition_probability": chain.start / max(chain.start.sum(), 1e-300)})[chain.start > 0],
        pd.DataFrame({"channel_from": names[coo.row], "channel_to": names[coo.col], "transition_probability": coo.data / safe[coo.row]}),
        pd.DataFrame({"channel_from": names, "channel_to": CONVERSION, "transition_probability": chain.to_conv / safe})[chain.to_conv > 0],
        pd.DataFrame({"channel_from": names, "channel_to": NULL, "transition_probability": chain.to_null / safe})[chain.to_null > 0],
    ]
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["channel_from", "channel_to"], kind="stable").reset_index(drop=True)


def markov_model(
    paths_df: pd.DataFrame,
    order: int = 1,
    var_path: str = "path",
    var_conv: str = "total_conversions",
    var_value: str | None = "total_conversion_value",
    var_null: str | None = "total_null",
    sep: str = DEFAULT_SEP,
    *,
    collapse_repeats: bool = True,
    collapse_channels: bool = False,
    out_transition_matrix: bool = True,
    max_step: int | None = None,
    solver: str = "auto",
    encoded: EncodedPaths | None = None,
) -> dict[str, pd.DataFrame]:
    """Fit an order-k Markov attribution model; the API mirrors ChannelAttribution.markov_model.

    Returns {"result": channel_name, total_conversions, total_conversion_value;
    "removal_effects": channel_name, removal_effects_conversion, removal_effects_conversion_value;
    "transition_matrix": channel_from, channel_to, transition_probability (when asked)}.
    Conversions and nulls may be fractional. `max_step=None` (default) gives the exact limit of
    unbounded walks; an integer reproduces ChannelAttribution's cap on simulated walk length.
    `solver` picks sparse LU or the certified series for the absorbing-chain solves (see `_visits`).
    Pass `encoded` to reuse a parse of the same table.
    """
    enc = encoded or encode_paths(
        paths_df, var_path=var_path, var_conv=var_conv, var_value=var_value, var_null=var_null, sep=sep,
        group_duplicates=True,
    )
    chain = fit_chain(enc, order, collapse_repeats=collapse_repeats, collapse_channels=collapse_channels)
    if max_step is not None and max_step < 1:
        raise ValueError(f"max_step must be >= 1 or None, got {max_step!r}")
    re = removal_effects(chain, max_step, solver)
    total_conv = float(enc.conversions.sum())
    total_value = float(enc.value.sum())
    r_conv = re["removal_effects_conversion"].to_numpy()
    r_val = re["removal_effects_conversion_value"].to_numpy()
    s_conv, s_val = r_conv.sum(), r_val.sum()
    result = pd.DataFrame(
        {
            "channel_name": list(chain.channels),
            "total_conversions": r_conv / s_conv * total_conv if s_conv > 0 else np.zeros(len(r_conv)),
            "total_conversion_value": r_val / s_val * total_value if s_val > 0 else np.zeros(len(r_val)),
        }
    )
    out = {"result": result, "removal_effects": re}
    if out_transition_matrix:
        out["transition_matrix"] = transition_matrix(chain)
    return out
