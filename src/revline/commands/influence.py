"""CLI command `revline influence`: sourced vs influenced pipeline per channel or campaign.

Thin: the options are parsed here and the work is the `influence` operation (revline.ops), which
the server's jobs run too; the table is printed with its definition as the title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from revline.commands.options import CampaignLevelOption, DbOption, InfluenceWindowOption, SegmentOption, existing_store
from revline.vocabulary import (
    DEFAULT_CAMPAIGN_LEVEL,
    DEFAULT_INFLUENCE_WINDOW_DAYS,
    DEFAULT_REVENUE_TYPE,
    DEFAULT_SEGMENT,
)


def register(app: typer.Typer) -> None:
    """Add `revline influence` to the main app."""

    @app.command()
    def influence(
        by: Annotated[str, typer.Option("--by", help="channel or campaign.")] = "channel",
        revenue_type: Annotated[str, typer.Option("--revenue-type", help="new_business, renewal, expansion or all (the default on every screen).")] = DEFAULT_REVENUE_TYPE,
        segment: SegmentOption = DEFAULT_SEGMENT,
        start: Annotated[Optional[str], typer.Option(help="First opportunity creation date (YYYY-MM-DD).")] = None,
        end: Annotated[Optional[str], typer.Option(help="Last opportunity creation date (YYYY-MM-DD).")] = None,
        influence_window_days: InfluenceWindowOption = DEFAULT_INFLUENCE_WINDOW_DAYS,
        campaign_level: CampaignLevelOption = DEFAULT_CAMPAIGN_LEVEL,
        sourced_by: Annotated[str, typer.Option("--sourced-by", help="first_touch (the model's credit) or campaign (the CRM's primary campaign).")] = "first_touch",
        out: Annotated[Optional[Path], typer.Option("--out", help="Also save the table (.csv, .parquet or .json).")] = None,
        no_stitch: Annotated[bool, typer.Option("--no-stitch", help="Refuse instead of stitching a store that changed since its last stitch.")] = False,
        db: DbOption = None,
    ) -> None:
        """Opportunities and pipeline each channel sourced, against those it influenced (a touch in the window before creation)."""
        from revline.commands._hub import run_operation
        from revline.commands.attribution import _fail, _stitch_notice, print_frame
        from revline.reports.tables import write_table

        path = existing_store(db)
        params = {"by": by, "revenue_type": revenue_type, "segment": segment, "start": start, "end": end,
                  "window_days": influence_window_days, "campaign_level": campaign_level, "sourced_by": sourced_by,
                  "no_stitch": no_stitch, "db": str(path)}
        try:
            result = run_operation(db, "influence", params)
        except ValueError as exc:
            _fail(str(exc))
        if result.stitched:
            _stitch_notice(result.stitched)
        if result.problem:
            _fail(result.problem)
        print_frame(result.frame, result.title)
        if out is not None:
            try:
                write_table(result.frame, out)
            except ValueError as exc:
                _fail(str(exc))
            typer.echo(f"saved {len(result.frame)} rows to {out}")
