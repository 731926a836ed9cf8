"""`python -m revline`: the same CLI as the `revline` command."""

from revline.cli import app

app()
