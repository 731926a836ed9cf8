"""CLI for data-driven attribution: `revline paths export|markov|shapley` and `revline truth`.

The paths commands work on ChannelAttribution-shaped csv files (path, total_conversions,
total_conversion_value, total_null), so users can bring paths from elsewhere or export the
store's journeys and inspect them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Optional

import typer
from revline.commands.options import DbOption, existing_store
from revline.screen import console as _console
from revline.screen import readable

# The layers below are imported inside each command, for start-up time: see revline/commands/__init__.py.

console = _console()

SepOption = Annotated[str, typer.Option("--sep", help="Separator between channels in the path column.")]

paths_app = typer.Typer(
    help="Channel paths and the data-driven models (exact Markov removal effects, Shapley values).",
    no_args_is_help=True,
)


def _fail(msg: str) -> None:
    console.print(f"[red]error:[/red] {msg}")
    raise typer.Exit(1)


def _print_channels(df, title: str, extra: Sequence[str] = ()) -> None:
    from rich.table import Table

    table = Table(title=title)
    cols = ["channel_name", "total_conversions", "total_conversion_value", *extra]
    for c in cols:
        table.add_column(c, justify="left" if c == "channel_name" else "right")
    for row in df[cols].itertuples(index=False):
        table.add_row(str(row[0]), *[f"{v:,.4f}" if isinstance(v, float) else str(v) for v in row[1:]])
    console.print(readable(table))


def _read(paths_csv: Path):
    from revline.attribution.paths import PathsError, read_paths

    try:
        return read_paths(paths_csv)
    except (PathsError, FileNotFoundError) as e:
        _fail(str(e))


@paths_app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="Output csv (.csv.gz compresses).")],
    milestone: Annotated[str, typer.Option(help="lead, mql, sql, opportunity or won.")] = "won",
    revenue_type: Annotated[str, typer.Option(help="new_business, renewal, expansion or all.")] = "new_business",
    scope: Annotated[str, typer.Option(help="account, person or contact_roles.")] = "account",
    lookback_days: Annotated[Optional[float], typer.Option(help="Only touches this many days before the conversion.")] = None,
    no_stitch: Annotated[bool, typer.Option("--no-stitch", help="Refuse instead of stitching a store that changed since its last stitch.")] = False,
    db: DbOption = None,
) -> None:
    """Export the store's journeys as a ChannelAttribution paths table (stitching first if the store changed)."""
    from revline.commands._hub import run_operation
    from revline.commands.attribution import _stitch_notice

    path = existing_store(db)
    params = {"milestone": milestone, "revenue_type": revenue_type, "scope": scope, "lookback_days": lookback_days,
              "no_stitch": no_stitch, "db": str(path)}
    try:
        result = run_operation(db, "paths_export", params)
    except ValueError as e:
        _fail(str(e))
    if result.stitched:
        _stitch_notice(result.stitched)
    if result.problem:
        _fail(f"nothing to export: {result.problem}")
    df = result.paths
    df.to_csv(out, index=False)
    console.print(
        f"[green]{len(df):,} distinct paths[/green] ({df['total_conversions'].sum():,.0f} conversions, "
        f"{df['total_null'].sum():,.0f} non-converting journeys) -> [bold]{out}[/bold]"
    )


@paths_app.command("markov")
def markov(
    paths_csv: Annotated[Path, typer.Argument(help="Paths csv / csv.gz.")],
    out: Annotated[Path, typer.Option("--out", help="Per-channel result csv.")],
    order: Annotated[int, typer.Option("--order", help="Markov order 1..4.")] = 1,
    transition_matrix: Annotated[Optional[Path], typer.Option("--transition-matrix", help="Also write the transition matrix csv.")] = None,
    max_step: Annotated[Optional[int], typer.Option(help="Cap walks at this many states (ChannelAttribution's max_step); default exact.")] = None,
    sep: SepOption = " > ",
) -> None:
    """Exact Markov attribution: removal effects from absorbing-chain algebra, not simulation."""
    from revline.attribution.markov import markov_model
    from revline.attribution.paths import PathsError, encode_paths

    df = _read(paths_csv)
    with console.status(f"fitting order-{order} chain on {len(df):,} paths"):
        try:
            enc = encode_paths(df, sep=sep, source=str(paths_csv))
            res = markov_model(
                df, order=order, max_step=max_step, out_transition_matrix=transition_matrix is not None, encoded=enc
            )
        except (PathsError, ValueError) as e:
            _fail(str(e))
    table = res["result"].merge(
        res["removal_effects"].rename(
            columns={"removal_effects_conversion": "removal_effect", "removal_effects_conversion_value": "removal_effect_value"}
        ),
        on="channel_name",
    )
    table.to_csv(out, index=False)
    if transition_matrix is not None:
        res["transition_matrix"].to_csv(transition_matrix, index=False)
    _print_channels(table, f"Markov order {order}", ["removal_effect"])
    console.print(f"-> [bold]{out}[/bold]" + (f", [bold]{transition_matrix}[/bold]" if transition_matrix else ""))


@paths_app.command("shapley")
def shapley(
    paths_csv: Annotated[Path, typer.Argument(help="Paths csv / csv.gz.")],
    out: Annotated[Path, typer.Option("--out", help="Per-channel result csv.")],
    ordered: Annotated[bool, typer.Option("--ordered", help="Also write credit by touch position (<out>_by_position.csv).")] = False,
    worth: Annotated[str, typer.Option(help="conversions (subset-sum worth) or rate (conversion rate; can be negative).")] = "conversions",
    floor_negative: Annotated[bool, typer.Option(help="Clip negative values to 0, rescaling the rest.")] = False,
    permutations: Annotated[int, typer.Option(help="Permutations when sampling (more than 20 channels, rate worth).")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the permutation sampler.")] = 0,
    sep: SepOption = " > ",
) -> None:
    """Shapley attribution over channel coalitions (exact over 2^n coalitions up to 20 channels)."""
    from revline.attribution.paths import PathsError, encode_paths
    from revline.attribution.shapley import shapley_model

    df = _read(paths_csv)
    try:
        enc = encode_paths(df, sep=sep, source=str(paths_csv))
        res = shapley_model(
            df, worth=worth, ordered=ordered, n_permutations=permutations, seed=seed, floor_negative=floor_negative,
            encoded=enc,
        )
    except (PathsError, ValueError) as e:
        _fail(str(e))
    result = res["result"]
    method = result.attrs.get("method", "")
    if method != "sampled":
        result = result.drop(columns=["std_error_conversions", "std_error_value"])
    result.to_csv(out, index=False)
    _print_channels(result, f"Shapley ({worth}, {method})", ["std_error_conversions"] if method == "sampled" else [])
    console.print(f"-> [bold]{out}[/bold]")
    if ordered:
        pos_out = out.with_name(out.name.split(".")[0] + "_by_position.csv")
        res["ordered"].to_csv(pos_out, index=False)
        console.print(f"-> [bold]{pos_out}[/bold]")


@paths_app.command("heuristic")
def heuristic(
    paths_csv: Annotated[Path, typer.Argument(help="Paths csv / csv.gz.")],
    out: Annotated[Path, typer.Option("--out", help="Per-channel result csv.")],
    sep: SepOption = " > ",
) -> None:
    """First-touch, last-touch and linear credit per channel (ChannelAttribution's heuristic_models)."""
    from rich.table import Table

    from revline.attribution.heuristics import heuristic_models
    from revline.attribution.paths import PathsError

    df = _read(paths_csv)
    try:
        res = heuristic_models(df, sep=sep, source=str(paths_csv))
    except PathsError as e:
        _fail(str(e))
    res.to_csv(out, index=False)
    table = Table(title=f"Heuristic models ({len(df):,} paths)")
    for c in res.columns:
        table.add_column(c, justify="left" if c == "channel_name" else "right")
    for row in res.itertuples(index=False):
        table.add_row(str(row[0]), *[f"{v:,.2f}" for v in row[1:]])
    console.print(readable(table))
    console.print(f"-> [bold]{out}[/bold]")


def truth(
    db: DbOption = None,
    demo_dir: Annotated[Path, typer.Option("--demo-dir", help="Demo directory holding ground_truth.json.")] = Path("revline-demo"),
    revenue_type: Annotated[str, typer.Option(help="Revenue type of the compared ledger runs.")] = "new_business",
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the per-channel table as csv.")] = None,
) -> None:
    """Score every model's revenue credit by channel against the demo's counterfactual ground truth."""
    from rich.table import Table

    from revline.reports.truth import load_ground_truth, truth_summary, truth_table
    from revline.store import connect

    try:
        gt = load_ground_truth(demo_dir)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    con = connect(db, read_only=True)
    try:
        table = truth_table(con, gt, revenue_type=revenue_type)
    finally:
        con.close()
    if table.empty:
        _fail("no attribution runs for milestone 'won' in the store; run `revline attribute` first")
    summary = truth_summary(table)
    t = Table(title=f"Models vs ground truth (won, {revenue_type}): shares over tracked channels")
    for c in ("model", "total abs share error", "rank correlation", "attributed revenue"):
        t.add_column(c, justify="left" if c == "model" else "right")
    for r in summary.itertuples(index=False):
        t.add_row(r.model, f"{r.total_abs_share_error:.3f}", f"{r.rank_correlation:.3f}", f"{r.attributed_revenue:,.0f}")
    console.print(readable(t))
    wide = table.pivot(index="channel", columns="model", values="model_share")
    wide.insert(0, "truth", table.drop_duplicates("channel").set_index("channel")["true_share"])
    s = Table(title="Revenue share by channel")
    s.add_column("channel")
    for c in wide.columns:
        s.add_column(str(c), justify="right")
    for ch, row in wide.sort_values("truth", ascending=False).iterrows():
        s.add_row(str(ch), *[f"{v:.1%}" for v in row.to_numpy()])
    console.print(readable(s))
    if out is not None:
        table.to_csv(out, index=False)
        console.print(f"-> [bold]{out}[/bold]")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(paths_app, name="paths")
    app.command("truth")(truth)
