"""Connected components by iterative label propagation, in Ibis: written for DuckDB and Spark alike.

Why this exists beside `graph.representatives` (scipy): scipy needs every edge in one process,
which a lake-sized identity graph (hundreds of millions of edges) is not. Here each round is a
join and a group-by the backend runs where the edges are; only one number per round (the sum of
the labels) comes back to the driver.

The answer is the same as scipy's by construction: each node's label starts at its own code and
only ever falls to a code of its own component, and a round that changes nothing leaves every
edge with equal labels at both ends, so each component ends labelled with its smallest code,
which is exactly `representatives`' choice (the most preferred identity). Checked equal on DuckDB.

One round: every node, and every node a neighbour's label names, takes the smallest label
offered to it (`step`, hooking whole trees of labels at once), then every node jumps to the label
its new label has (`step[step]`), which shortcuts chains: measured on 2,000-node paths (coded in
order, backwards, shuffled) 11 rounds, a star 3, a random graph 7 (min-propagation alone took
over 300 on the shuffled path). Labels never rise, so an unchanged sum means no label moved.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import ibis.common.exceptions as com

MAX_ROUNDS = 200


@dataclass(frozen=True)
class Components:
    """The labelled nodes (`code`, `label`: the smallest code of the component) and the rounds it took.

    `labels` is a table the backend wrote; `release()` drops it once its rows are used."""

    labels: Any  # ibis.Table
    rounds: int

    def release(self) -> None:
        _drop(self.labels)


def _write(expr: Any) -> Any:
    """Materialise `expr` as a table of its backend: a temporary one where the backend has them
    (DuckDB), else a table in its warehouse (Spark). Not `cache()`: on Spark a cached frame keeps
    its whole lineage, and the rounds' plans grew until the driver ran out of memory (3 rounds of
    a 30-node graph: 500 stages, 300 s); a written table starts the next round's plan afresh."""
    be = expr._find_backend()
    name = f"_rl_components_{uuid.uuid4().hex[:12]}"
    try:
        return be.create_table(name, expr, temp=True)
    except (NotImplementedError, com.UnsupportedOperationError):
        return be.create_table(name, expr)


def _total(labels: Any) -> int:
    """The sum of the labels, 0 for no nodes (Spark's empty sum came back as NaN, which never
    equals itself, so an empty graph never settled there)."""
    return int(labels.label.sum().coalesce(0).execute())


def _drop(table: Any) -> None:
    table._find_backend().drop_table(table.get_name(), force=True)


def representatives_expr(nodes: Any, edges: Any, *, max_rounds: int = MAX_ROUNDS) -> Components:
    """Label every node of `nodes` (column `code`, integer, unique) with the smallest code of its
    component in the undirected graph `edges` (columns `l`, `r`: codes of `nodes`; duplicates and
    self-loops are harmless). Both are Ibis tables of one backend; the rounds run there.
    """
    import ibis

    both = ibis.union(edges.select(src=edges.l.cast("int64"), dst=edges.r.cast("int64")),
                      edges.select(src=edges.r.cast("int64"), dst=edges.l.cast("int64")), distinct=False)
    both = _write(both.filter(both.src != both.dst).distinct())
    labels = _write(nodes.select(code=nodes.code.cast("int64"), label=nodes.code.cast("int64")))
    total = _total(labels)
    try:
        for rounds in range(1, max_rounds + 1):
            at_src, at_dst = labels.view(), labels.view()
            pairs = (both.join(at_src, both.src == at_src.code).join(at_dst, both.dst == at_dst.code)
                     .select(dst=both.dst, dst_label=at_dst.label, src_label=at_src.label))
            # a neighbour's label goes to the node and to the node its label names (hooking that
            # node's whole tree at once), so labels spread along trees, not one edge per round
            offers = ibis.union(pairs.select(code=pairs.dst, label=pairs.src_label),
                                pairs.select(code=pairs.dst_label, label=pairs.src_label), distinct=False)
            step = _write(ibis.union(labels, offers, distinct=False).group_by("code").aggregate(label=ibis._.label.min()))
            again = step.view()
            # every label is a node's code, so this inner join keeps each node once
            jumped = _write(step.join(again, step.label == again.code).select(code=step.code, label=again.label))
            new_total = _total(jumped)
            for old in (labels, step):
                _drop(old)
            labels = jumped
            if new_total == total:
                return Components(labels, rounds)
            total = new_total
        _drop(labels)
        raise RuntimeError(f"label propagation did not settle in {max_rounds} rounds")
    finally:
        _drop(both)


__all__ = ["MAX_ROUNDS", "Components", "representatives_expr"]
