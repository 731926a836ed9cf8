"""The CMO/CRO dashboard: one server-rendered page whose charts are drawn from the read API.

Why fetch JSON instead of rendering figures on the server: the page then shows exactly what
/api/* returns (tests compare the two), and a request costs only the queries, never a model.
Every asset is local: plotly.js is served from the installed plotly package, no CDN.

Login: the read key, typed into the form (POST /login) or passed once as /dashboard?key=...;
both set an HttpOnly, SameSite=Strict cookie `rl_read_key` and redirect to a clean URL.
"""

from __future__ import annotations

import html
from functools import lru_cache
from importlib import resources
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from plotly.offline import get_plotlyjs

from revline.api.keys import FailedLoginThrottle, same
from revline.api.read_api import COOKIE, read_key_given

_STATIC = resources.files("revline.api") / "static"
_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@lru_cache(maxsize=1)
def _plotly_js() -> bytes:
    return get_plotlyjs().encode("utf-8")


@lru_cache(maxsize=8)
def _asset(name: str) -> bytes:
    return (_STATIC / name).read_bytes()


@lru_cache(maxsize=1)
def _panels() -> tuple[str, str, str]:
    """The optional panels (static/panels/<name>.html + <name>.js), in name order: (sections placed
    right after the key figures, the other sections, every panel's script tag).

    Why files rather than edits to dashboard.html: each model family (forecast, retention,
    scoring, ...) brings its own section and script, so adding one never touches another's. A panel
    named `top-*` is what a CRO reads first (the forecast against the target), so it goes on top.
    """
    folder = _STATIC / "panels"
    names = sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".html"))

    def sections(top: bool) -> str:
        return "\n".join((folder / f"{n}.html").read_text(encoding="utf-8")
                         for n in names if n.startswith("top-") == top)

    scripts = "\n".join(f'<script src="/static/panels/{n}.js" defer></script>'
                         for n in names if (folder / f"{n}.js").is_file())
    return sections(True), sections(False), scripts


def _page(name: str, **values: str) -> str:
    text = _asset(name).decode("utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _login_page(error: str = "", status: int = 200) -> HTMLResponse:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(_page("login.html", error=message), status_code=status)


def _with_cookie(response: Response, key: str, request: Request) -> Response:
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        max_age=30 * 24 * 3600)
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _throttled(throttle: FailedLoginThrottle, request: Request) -> Response | None:
    """429 when this client has used up its failed attempts (checked before the key is)."""
    wait = throttle.retry_after(_client(request))
    if not wait:
        return None
    response = _login_page(f"Too many wrong keys from your address: try again in {wait} s.", 429)
    response.headers["Retry-After"] = str(wait)
    return response


def register(app: FastAPI) -> None:
    """Add the dashboard, login and asset routes (hidden from the OpenAPI document)."""
    throttle = FailedLoginThrottle()  # failed key checks per client address (issue 20 D10)
    app.state.login_throttle = throttle

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard", status_code=307)

    @app.get("/dashboard", include_in_schema=False)
    def dashboard_page(request: Request) -> Response:
        key = request.app.state.keys.read
        query_key = request.query_params.get("key")
        if query_key is not None:
            if (refused := _throttled(throttle, request)) is not None:
                return refused
            if not same(query_key, key):
                throttle.failed(_client(request))
                return _login_page("That read key is not valid.", 401)
            return _with_cookie(RedirectResponse("/dashboard", status_code=303), query_key, request)
        if not same(read_key_given(request), key):
            return _login_page()
        top, sections, scripts = _panels()
        return HTMLResponse(_page("dashboard.html", top_panels=top, panels=sections, panel_scripts=scripts),
                            headers={"Cache-Control": "no-store"})

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if (refused := _throttled(throttle, request)) is not None:
            return refused
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = (form.get("key") or [""])[0].strip()
        if not same(given, request.app.state.keys.read):
            throttle.failed(_client(request))
            return _login_page("That read key is not valid.", 401)
        return _with_cookie(RedirectResponse("/dashboard", status_code=303), given, request)

    @app.get("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/dashboard", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        return Response(_plotly_js(), media_type=_TYPES[".js"], headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        suffix = name[name.rfind("."):] if "." in name else ""
        if name not in ("dashboard.js", "dashboard.css") or suffix not in _TYPES:
            return Response("not found", status_code=404)
        return Response(_asset(name), media_type=_TYPES[suffix], headers={"Cache-Control": "no-cache"})

    @app.get("/static/panels/{name}", include_in_schema=False)
    def panel_js(name: str) -> Response:
        folder = _STATIC / "panels"
        if not name.endswith(".js") or "/" in name or not (folder / name).is_file():
            return Response("not found", status_code=404)
        return Response((folder / name).read_bytes(), media_type=_TYPES[".js"],
                        headers={"Cache-Control": "no-cache"})

    @app.get("/revline.js", include_in_schema=False)
    def tracker_js() -> Response:
        return Response(_asset("revline.js"), media_type=_TYPES[".js"],
                        headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"})
