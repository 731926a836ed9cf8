"""CLI commands for the serve area (see revline.cli): `revline serve`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from revline.commands.options import DbOption


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command()
    def serve(
        db: DbOption = None,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        write_key: Annotated[Optional[str], typer.Option("--write-key", envvar="REVLINE_WRITE_KEY",
                                                         help="Collector key (HTTP Basic user name).")] = None,
        read_key: Annotated[Optional[str], typer.Option("--read-key", envvar="REVLINE_READ_KEY",
                                                        help="Read API / dashboard key.")] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    ) -> None:
        """Serve the read API, the Segment-compatible collector (/v1/*) and the dashboard.

        Keys: --write-key/--read-key, else $REVLINE_WRITE_KEY/$REVLINE_READ_KEY, else the keys stored
        in the store; if there are none, new keys are generated, stored and printed here.
        """

        import uvicorn
        from rich.console import Console

        from revline.api.app import close_app, create_app
        from revline.store import resolve_db_path

        console = Console()
        path = resolve_db_path(db)
        app = create_app(path, write_key=write_key, read_key=read_key)
        keys, collector = app.state.keys, app.state.collector
        if collector.recovered:
            console.print(f"[yellow]Replayed {collector.recovered} events from the collector log[/yellow]")
        for kind in ("write", "read"):
            shown = getattr(keys, kind)
            note = " [green](new)[/green]" if kind in keys.generated else ""
            console.print(f"{kind} key{note}: [bold]{shown}[/bold]")
        base = f"http://{host}:{port}"
        console.print(f"revline serving [bold]{path}[/bold] at {base}  ·  dashboard {base}/dashboard  ·  docs {base}/docs")
        try:  # uvloop/httptools when installed (much faster collector); plain asyncio/h11 otherwise
            import uvloop  # noqa: F401
            loop = "uvloop"
        except ImportError:
            loop = "asyncio"
        try:
            import httptools  # noqa: F401
            http = "httptools"
        except ImportError:
            http = "h11"
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, loop=loop, http=http,
                                access_log=False, backlog=2048, timeout_keep_alive=30)
        server = uvicorn.Server(config)
        try:
            server.run()
        finally:
            close_app(app)
