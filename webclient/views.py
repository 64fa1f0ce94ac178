"""Serves the reference web client at ``/`` (docs/web-client.md).

``npm run build`` (``make web``) writes the client into ``webclient/static/webclient/``; WhiteNoise
serves its assets under ``/static/webclient/`` (from the app directory through the finders with
``DEBUG``, from ``STATIC_ROOT`` after ``collectstatic`` otherwise) and this view answers ``/`` with
its ``index.html``. Without a build, ``/`` says how to make one; the API does not depend on it.
"""

from __future__ import annotations

from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

BUILD_DIR = Path(__file__).resolve().parent / "static" / "webclient"

MISSING_BUILD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Home Service: the web client is not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>The web client is not built</h1>
<p>The API runs without it. The web client needs Node.js 20.19+ and npm; build it with</p>
<pre>make web</pre>
<p>(or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>), then reload this page.
<code>make run</code> builds it by itself when Node.js is installed.</p>
<ul>
<li><a href="/api/docs/">API docs</a></li>
<li><a href="/admin/">Admin</a></li>
<li><a href="/api/v1/home/">Home feed</a> (needs a token: <code>POST /api/v1/auth/token/</code>)</li>
</ul>
<p>See docs/web-client.md.</p>
</body></html>
"""


def index_html() -> bytes | None:
    """The built client's index.html, or None when there is no build."""
    try:
        return (BUILD_DIR / "index.html").read_bytes()
    except FileNotFoundError:
        return None


# The admin's template editor shows the client in preview mode in an iframe: same origin only.
@xframe_options_sameorigin
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    html = index_html()
    if html is None:
        response = HttpResponse(MISSING_BUILD_PAGE, status=503, content_type="text/html; charset=utf-8")
    else:
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"  # always the newest build's asset names
    return response
