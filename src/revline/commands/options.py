"""CLI options every command shares, declared once (the `--db` flag was declared in six files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DbOption = Annotated[
    Optional[Path],
    typer.Option("--db", help="Store file (default ./revline.duckdb, or $REVLINE_DB).", envvar="REVLINE_DB"),
]
"""`--db`: the store file; $REVLINE_DB, else ./revline.duckdb (store.resolve_db_path)."""

SegmentOption = Annotated[
    str,
    typer.Option("--segment", help="Region of the account's country: all, NA, EMEA, APAC, LATAM, other or unknown."),
]
"""`--segment`: the region filter every report takes (reports.segments); default all."""

CampaignLevelOption = Annotated[
    str,
    typer.Option("--campaign-level", help="By campaign: program (children summed into their top parent, "
                 "Campaign.ParentId) or campaign (each, its ROI over itself and its children)."),
]
"""`--campaign-level`: the level reports by campaign read at (reports.campaigns)."""

InfluenceWindowOption = Annotated[
    int,
    typer.Option("--influence-window-days", min=0, help="A channel influenced an opportunity when the account "
                 "had a touch of it at most this many days before the opportunity was created."),
]
"""`--influence-window-days`: the window of sourced vs influenced (reports.influence)."""

SPARK_COMMANDS: frozenset[str] = frozenset({"stitch", "attribute", "report", "funnel"})
"""The commands that look at `revline --engine` (report and funnel to say what they cannot do there yet);
every other one refuses an engine other than DuckDB in one line."""
SPARK_RUNS: tuple[str, ...] = ("stitch", "attribute", "report --roi", "funnel --level account")
"""What runs on Spark (stitch: journeys and milestones; attribute: every model; report --roi by channel
or month; funnel: the account funnel's stages)."""

_ENGINE: list = []


def set_engine(config: object) -> None:
    """Record this invocation's engine (store.engine.EngineConfig), chosen by the root callback."""
    _ENGINE[:] = [config]


def engine_config():  # -> revline.store.engine.EngineConfig (imported lazily: start-up time)
    """This invocation's engine; DuckDB when the app was not entered through its root callback."""
    from revline.store.engine import EngineConfig

    return _ENGINE[0] if _ENGINE else EngineConfig()


def on_spark() -> bool:
    """Whether this invocation runs on Spark (`revline --engine spark`, $REVLINE_ENGINE or revline.toml)."""
    return engine_config().name == "spark"


__all__ = ["SPARK_COMMANDS", "SPARK_RUNS", "engine_config", "on_spark", "set_engine", "CampaignLevelOption", "DbOption", "InfluenceWindowOption", "SegmentOption"]


def existing_store(db: Optional[Path]) -> Path:
    """The store a reading command was given, or exit 1 with the one line that says how to make it
    (every reading command used to repeat these lines)."""
    from revline.screen import console
    from revline.store import resolve_db_path

    path = resolve_db_path(db)
    if not path.exists():
        console(stderr=True).print(f"[red]error:[/red] {path}: no such store; create it with "
                                   f"`revline ingest <exports> --db {path}`")
        raise typer.Exit(code=1)
    return path
