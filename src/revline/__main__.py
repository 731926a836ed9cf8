from revline.cli import app

app()
