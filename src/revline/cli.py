"""`revline` command line: a thin Typer shell over the Python API.

Each area of the flow keeps its commands in `revline/commands/<area>.py` with a
`register(app)` function, so the CLI grows with the package without one giant file.
Heavy imports happen inside the commands, which keeps `revline --help` instant.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any, Optional

import duckdb
import typer
from rich.console import Console
from typer.core import TyperGroup

from revline.commands._hub import live_server
from revline.commands.options import DbOption
from revline.store import SCHEMA_VERSION, connect, resolve_db_path
from revline.store.errors import StoreError, damaged


# DuckDB's words for a store file whose blocks are damaged, met when a query reads them (the
# integrity check on open finds a file cut short, not bytes overwritten inside it)
_DAMAGE = ("Corrupt database file", "does not match stored checksum", "Could not read enough bytes")


def user_error(exc: BaseException, db: str | None = None) -> str | None:
    """The one-line message of an error the user can act on (the store is locked, damaged or
    from a newer revline; a file is missing), or None for a bug, which keeps its traceback.
    `db` is the store the command was given, named when DuckDB finds a damaged block."""
    if isinstance(exc, StoreError | FileNotFoundError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, duckdb.Error) and any(m in str(exc) for m in _DAMAGE):
        detail = str(exc).splitlines()[0].split(": ", 1)[-1]
        return str(damaged(resolve_db_path(db), detail))
    return None


def _db_arg(args: list[str]) -> str | None:
    """The value of --db among a command line's arguments (None: $REVLINE_DB or the default)."""
    for i, a in enumerate(args):
        if a == "--db" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--db="):
            return a[len("--db="):]
    return None


class _Group(TyperGroup):
    """Every command runs inside this: a user error becomes `revline: <one line>` on stderr and
    exit status 1, never a traceback (each command need not repeat the handling)."""

    def invoke(self, ctx: Any) -> Any:  # Typer's Context is its vendored click's, a private type
        args = [*(getattr(ctx, "_protected_args", None) or []), *ctx.args]
        try:
            return super().invoke(ctx)
        except Exception as exc:
            msg = user_error(exc, _db_arg(args))
            if msg is None:
                raise
            typer.echo(f"revline: {msg}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    name="revline",
    help="revline: every go-to-market touchpoint under one roof, attributed to revenue.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
console = Console()



@app.callback()
def _root(
    ctx: typer.Context,
    engine: Annotated[Optional[str], typer.Option(
        "--engine", help="Where the batch flow runs: duckdb (the store file) or spark (--db names a folder "
        "`revline export` wrote; stitch, attribute, report --roi). Default $REVLINE_ENGINE, else `engine` in ./revline.toml, else duckdb.",
    )] = None,
) -> None:
    """revline: every go-to-market touchpoint under one roof, attributed to revenue."""
    from revline.commands.options import SPARK_COMMANDS, SPARK_RUNS, set_engine
    from revline.store.engine import EngineError, resolve_engine

    try:
        config = resolve_engine(engine)
    except EngineError as exc:
        typer.echo(f"revline: {exc}", err=True)
        raise typer.Exit(1) from None
    set_engine(config)
    command = ctx.invoked_subcommand
    if config.name != "duckdb" and command not in SPARK_COMMANDS:
        typer.echo(f"revline: `revline {command}` runs on DuckDB only (engine {config.name} from {config.source}); "
                   f"on {config.name}: {', '.join(SPARK_RUNS)}", err=True)
        raise typer.Exit(1)


@app.command()
def init(db: DbOption = None) -> None:
    """Create (or migrate) the store file with every canonical table."""
    path = resolve_db_path(db)
    server = live_server(path)
    if server is not None:  # the server migrated the store when it started, and holds it
        console.print(f"[green]Store ready[/green] at [bold]{path}[/bold] (held by `revline serve` at "
                      f"{server.advert.url}, pid {server.advert.pid}; commands are sent to it)")
        return
    con = connect(path)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]
    con.close()
    console.print(f"[green]Store ready[/green] at [bold]{path}[/bold] (schema version {SCHEMA_VERSION}, {len(tables)} tables)")


_AREAS = ("demo", "ingest", "journeys", "attribution", "influence", "paths", "serve", "mmm", "fx", "retention",
          "forecast", "funnel", "score", "exchange")
for _area in _AREAS:
    importlib.import_module(f"revline.commands.{_area}").register(app)


def main() -> None:  # pragma: no cover - console entry
    """The `revline` console script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
