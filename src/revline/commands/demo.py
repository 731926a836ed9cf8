"""`revline demo`: the built-in demo company, end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from revline.commands.options import DbOption

# The layers below are imported inside each command, for start-up time: see revline/commands/__init__.py.


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command()
    def demo(
        size: Annotated[str, typer.Option(help="small (2,000 accounts), medium or large (>= 5M touchpoints).")] = "small",
        out: Annotated[Path, typer.Option("--out", help="Where the demo's source files and ground truth go.")] = Path("revline-demo"),
        seed: Annotated[int, typer.Option(help="Random seed: same seed, same company.")] = 42,
        db: DbOption = None,
        report: Annotated[Path, typer.Option("--report", help="Self-contained HTML report to write.")] = Path("revline_report.html"),
        no_report: Annotated[bool, typer.Option("--no-report", help="Skip the HTML report.")] = False,
        generate_only: Annotated[bool, typer.Option("--generate-only", help="Only write the source files (no store, no models).")] = False,
    ) -> None:
        """Generate the demo B2B SaaS company, load it through the real readers, run every attribution model, print revenue/pipeline/ROI by channel and write the HTML report."""
        from revline.screen import console as screen_console
        from revline.store import resolve_db_path

        console = screen_console()
        if size not in ("tiny", "small", "medium", "large"):
            raise typer.BadParameter("size must be small, medium or large", param_hint="--size")
        if generate_only:
            from revline.demo.simulate import generate

            manifest = generate(out, size=size, seed=seed)
            console.print(f"[green]Demo files written[/green] to [bold]{out}[/bold]")
            console.print({k: v for k, v in manifest.items() if k != "files"} if isinstance(manifest, dict) else manifest)
            return
        from revline.demo.pipeline import run_demo
        from revline.demo.summary import print_summary

        result = run_demo(db=resolve_db_path(db), out_dir=out, size=size, seed=seed,
                          report_path=None if no_report else report, console=console)
        print_summary(result, console)
