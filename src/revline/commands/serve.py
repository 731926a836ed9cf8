"""CLI commands for the serve area (see revline.cli): `revline serve`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from revline.commands.options import DbOption

# The layers below are imported inside each command, for start-up time: see revline/commands/__init__.py.

# open requests get this long to finish when the server is stopped ($REVLINE_SHUTDOWN_SECONDS)
SHUTDOWN_SECONDS = int(os.environ.get("REVLINE_SHUTDOWN_SECONDS") or 10)


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
        admin_key: Annotated[Optional[str], typer.Option("--admin-key", envvar="REVLINE_ADMIN_KEY",
                                                         help="Admin API key (jobs); default: <store>.admin-key.")] = None,
        snapshot_seconds: Annotated[float, typer.Option("--snapshot-seconds", min=1.0,
                                                        help="Refresh the read snapshot at most this often "
                                                             "when collected events changed the store.")] = 60.0,
        live: Annotated[bool, typer.Option("--live/--no-live", help="Put collected touches of known visitors "
                                           "into their account's journey as they arrive.")] = True,
        schedule: Annotated[Optional[Path], typer.Option("--schedule", exists=True, dir_okay=False,
                                                         help="TOML file of watched folders and timed runs "
                                                              "(see revline.api.schedules).")] = None,
        in_market: Annotated[bool, typer.Option("--in-market/--no-in-market",
                                                help="Keep every account's in-market score up to date (with --live: "
                                                     "touched accounts re-scored within seconds).")] = True,
        alert_webhook: Annotated[Optional[str], typer.Option(
            "--alert-webhook", envvar="REVLINE_ALERT_WEBHOOK",
            help="POST Slack-compatible JSON here when an account's in-market score crosses the threshold.")] = None,
        alert_threshold: Annotated[float, typer.Option("--alert-threshold", envvar="REVLINE_ALERT_THRESHOLD",
                                                       min=0.0, max=1.0,
                                                       help="In-market score (probability of a deal within 30 days) that fires an alert.")] = 0.25,
        alert_cooldown: Annotated[str, typer.Option("--alert-cooldown", envvar="REVLINE_ALERT_COOLDOWN",
                                                    help="At most one alert per account this often (7d, 12h, 30m).")] = "7d",
        public_url: Annotated[Optional[str], typer.Option("--public-url", envvar="REVLINE_PUBLIC_URL",
                                                          help="The server's address as people reach it, for links "
                                                               "in alerts (default http://HOST:PORT).")] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    ) -> None:
        """Serve the read API, the Segment-compatible collector (/v1/*) and the dashboard.

        Keys: --write-key/--read-key, else $REVLINE_WRITE_KEY/$REVLINE_READ_KEY, else the keys stored
        in the store; if there are none, new keys are generated, stored and printed here (the read
        key only then). Given keys need at least 16 characters, and must differ. The admin key (jobs
        under /admin) is kept in <store>.admin-key (mode 0600).

        While it runs, the server advertises itself in <store>.server.json: `revline ingest`, `stitch`,
        `attribute`, `report`, `paths export` and `mmm fit` on the same store become jobs of this
        server, and read-only connections open its read snapshot <store>.snapshot.duckdb.

        In-market scores: with the live pipeline on, the server keeps every account's score up to date
        (the accounts that collected events touch are re-scored within seconds); --alert-webhook posts an
        alert when a score crosses --alert-threshold upwards, at most once per account per --alert-cooldown.
        """
        import uvicorn
        from rich.console import Console

        from urllib.parse import urlsplit

        from revline.api.alerts import AlertSettings, parse_duration
        from revline.api.app import close_app, create_app
        from revline.api.live_scores import default_scoring
        from revline.api.keys import ApiKeyError
        from revline.api.schedules import ScheduleError
        import os
        import signal
        from datetime import datetime, timezone

        from revline.store import resolve_db_path
        from revline.store.hub import Advert, admin_key_path, remove_advert, snapshot_path, write_advert

        console = Console()
        path = resolve_db_path(db)
        base = f"http://{host}:{port}"
        local = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)  # noqa: S104 - a comparison, not a bind
        alerts = None
        if alert_webhook:
            if not (live and in_market):
                typer.echo("revline: --alert-webhook needs the live pipeline and in-market scores: drop --no-live "
                           "and --no-in-market", err=True)
                raise typer.Exit(1)
            try:
                alerts = AlertSettings(alert_webhook, threshold=alert_threshold, cooldown=parse_duration(alert_cooldown),
                                       public_url=public_url or f"http://{local}:{port}")
            except ValueError as exc:
                typer.echo(f"revline: {exc}", err=True)
                raise typer.Exit(1) from None
        try:
            app = create_app(path, write_key=write_key, read_key=read_key, admin_key=admin_key,
                             snapshot_seconds=snapshot_seconds, live=live, schedule=schedule,
                             scoring=default_scoring() if in_market else None, alerts=alerts)
        except (ApiKeyError, ScheduleError) as exc:
            typer.echo(f"revline: {exc}", err=True)
            raise typer.Exit(1) from None
        keys, collector = app.state.keys, app.state.collector
        if collector.recovered:
            console.print(f"[yellow]Replayed {collector.recovered} events from the collector log[/yellow]")
        # the write key is public (it sits in tracked pages); the read key is a secret, shown
        # only the one time it is generated, so logs of later starts do not carry it
        console.print(f"write key{' [green](new)[/green]' if 'write' in keys.generated else ''}: [bold]{keys.write}[/bold]")
        if "read" in keys.generated:
            console.print(f"read key [green](new, shown once: keep it)[/green]: [bold]{keys.read}[/bold]")
        else:
            console.print("read key: as given or stored (not shown)")
        console.print(f"admin key{' [green](new)[/green]' if app.state.hub.admin_key_generated else ''}: "
                      f"in [bold]{admin_key_path(path)}[/bold]")
        if alerts is not None:
            console.print(f"in-market alerts to [bold]{urlsplit(alerts.webhook).netloc}[/bold] at score >= "
                          f"{alerts.threshold:g}, at most once per account per {alert_cooldown}")
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
        # bounds (issue 20 D8): idle keep-alive connections close after 5 s; a stop (Ctrl-C,
        # SIGTERM) waits at most SHUTDOWN_SECONDS for open requests, then the log is sealed and
        # loaded; bodies have size and time limits in the app (revline.api.limits)
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, loop=loop, http=http,
                                access_log=False, backlog=2048, timeout_keep_alive=5,
                                timeout_graceful_shutdown=SHUTDOWN_SECONDS, h11_max_incomplete_event_size=64 * 1024)
        server = uvicorn.Server(config)
        write_advert(path, Advert(url=f"http://{local}:{port}", pid=os.getpid(),
                                  admin_key_file=str(admin_key_path(path)), snapshot=str(snapshot_path(path)),
                                  started_at=datetime.now(timezone.utc).isoformat(timespec="seconds")))

        def _terminated(signum, frame) -> None:  # uvicorn re-raises SIGTERM once it has stopped serving:
            raise SystemExit(0)  # end here through the clean-up below, not by the default handler

        previous = signal.signal(signal.SIGTERM, _terminated)
        try:
            server.run()
        except SystemExit:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            try:
                close_app(app)
            finally:
                remove_advert(path, os.getpid())
                snapshot_path(path).unlink(missing_ok=True)  # only meaningful while the server runs
