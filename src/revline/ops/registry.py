"""The operations by name: what a job may ask for, and whether it writes the store.

Why a registry: the admin API accepts `{"op": name, "params": {...}}`; only names listed here
run, with keyword arguments checked against the function's signature before the job is queued.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from revline.store.transaction import atomic

Progress = Callable[[int | None, int | None, str], None]
"""`progress(done, total, label)`: done/total may be None while the amount of work is unknown."""


@dataclass(frozen=True)
class Operation:
    """An operation a job may run: its function, and whether and how it writes the store."""

    name: str
    target: str  # "module:function"
    writes: str  # "always", "if_stale" (stitches a changed store first) or "never"
    store: bool = True  # needs a connection to the store
    atomic: bool = False  # run inside one transaction (revline.store.atomic): all or nothing

    @property
    def function(self) -> Callable[..., Any]:
        module, _, fn = self.target.partition(":")
        return getattr(importlib.import_module(module), fn)

    @property
    def may_write(self) -> bool:
        """Runs in the server's writer queue (one at a time, in order)."""
        return self.writes != "never"

    def wrote(self, result: Any) -> bool:
        """Whether this run changed the store (an if_stale operation says so in `stitched`)."""
        return self.writes == "always" or (self.writes == "if_stale" and bool(getattr(result, "stitched", True)))

    def run(self, con: Any, params: dict[str, Any], progress: Progress) -> Any:
        """Call the operation, as one transaction when it is `atomic`."""
        if self.atomic and con is not None:
            with atomic(con):
                return self.function(con, progress=progress, **params)
        return self.function(con if self.store else None, progress=progress, **params)

    def check_params(self, params: dict[str, Any]) -> None:
        """ValueError naming the first unknown or missing argument (before a job is queued)."""
        sig = inspect.signature(self.function)
        accepted = {n for n, p in sig.parameters.items() if p.kind == p.KEYWORD_ONLY and n != "progress"}
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ValueError(f"{self.name}: unknown parameter {unknown[0]!r} (accepted: {', '.join(sorted(accepted))})")
        missing = [n for n in accepted if sig.parameters[n].default is inspect.Parameter.empty and n not in params]
        if missing:
            raise ValueError(f"{self.name}: missing parameter {missing[0]!r}")


OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    # ingest is one transaction by itself, and stages its files before opening it (see
    # docs/architecture.md: staging inside an open transaction runs on one thread)
    Operation("ingest", "revline.ops.ingest:ingest", writes="always"),
    Operation("stitch", "revline.ops.stitch:stitch", writes="always", atomic=True),
    Operation("attribute", "revline.ops.attribute:attribute", writes="always", atomic=True),
    Operation("report", "revline.ops.report:report", writes="if_stale", atomic=True),
    Operation("report_html", "revline.ops.report_html:report_html", writes="never"),
    Operation("influence", "revline.ops.influence:influence", writes="if_stale", atomic=True),
    Operation("paths_export", "revline.ops.paths:export", writes="if_stale", atomic=True),
    Operation("paths_model", "revline.ops.paths:model", writes="if_stale", atomic=True),
    Operation("mmm_fit", "revline.ops.mmm:fit", writes="never"),
    Operation("fx_load", "revline.ops.fx:fx_load", writes="always"),
    Operation("fx_list", "revline.ops.fx:fx_list", writes="never"),
    Operation("retention", "revline.ops.retention:retention", writes="never"),
    Operation("forecast", "revline.ops.forecast:forecast", writes="never"),
    Operation("forecast_backtest", "revline.ops.forecast:backtest", writes="never"),
    Operation("funnel", "revline.ops.funnel:funnel", writes="if_stale", atomic=True),
    Operation("score", "revline.ops.score:score", writes="never"),
    Operation("score_backtest", "revline.ops.score:backtest", writes="never"),
    Operation("export", "revline.ops.exchange:export", writes="never"),
    Operation("import", "revline.ops.exchange:import_", writes="always", atomic=True),
)}


def get_operation(name: str) -> Operation:
    """The registered operation `name`; ValueError naming the known ones otherwise."""
    try:
        return OPERATIONS[name]
    except KeyError:
        raise ValueError(f"unknown operation {name!r}; one of {', '.join(OPERATIONS)}") from None


def no_progress(done: int | None, total: int | None, label: str) -> None:
    """The default callback: nobody is watching."""
