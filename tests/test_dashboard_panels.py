"""Dashboard panels: each static/panels/<name>.html section and its script reach the page, in
name order, and only existing panel scripts are served."""

from __future__ import annotations

from conftest import API_READ_KEY

from revline.api import dashboard


def test_page_has_every_panel_section_and_script_and_no_placeholder(api_client):
    client, _ = api_client
    client.cookies.set("rl_read_key", API_READ_KEY)
    page = client.get("/dashboard").text
    assert "{{" not in page
    top, sections, scripts = dashboard._panels()
    folder = dashboard._STATIC / "panels"
    names = sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".html"))
    for name in names:
        assert (folder / f"{name}.html").read_text(encoding="utf-8") in page
        if (folder / f"{name}.js").is_file():
            assert f'/static/panels/{name}.js' in page
            assert client.get(f"/static/panels/{name}.js").status_code == 200
    assert top in page and sections in page and scripts in page
    # top-* panels (the forecast) come right after the key figures, before the built-in cards
    if top:
        assert page.index(top) < page.index('id="chart-targets"') < page.index(sections)


def test_panel_route_serves_only_existing_scripts(api_client):
    client, _ = api_client
    for name in ("missing.js", "..%2Fdashboard.js", "x.html", "..%2F..%2Fapp.py"):
        assert client.get(f"/static/panels/{name}").status_code == 404
