"""The API docs (Swagger UI at /api/docs/, ReDoc at /api/docs/redoc/) load
nothing from another host: their JavaScript, CSS and icon come from
drf-spectacular-sidecar as this service's static files, so the pages work
offline. And those files are served, after ``collectstatic``, by WhiteNoise as
in production (scripts/run and the README's deployment steps)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client, override_settings

DOCS = ["/api/docs/", "/api/docs/redoc/"]
# Anything a page loads or links to: attributes, and any absolute URL in inline script.
ATTRIBUTE = re.compile(r"""\b(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""")
ABSOLUTE = re.compile(r"""(?:https?:)?//[A-Za-z0-9.\-]+[^\s"'<>)]*""")


def _urls(html: str) -> tuple[list[str], list[str]]:
    return ATTRIBUTE.findall(html), ABSOLUTE.findall(html)


@pytest.mark.django_db
@pytest.mark.parametrize("page", DOCS)
def test_a_docs_page_loads_nothing_from_another_host(page: str) -> None:
    response = Client().get(page)
    assert response.status_code == 200
    html = response.content.decode()
    referenced, absolute = _urls(html)
    assert not absolute, f"{page} names another host: {absolute}"
    static = "/" + settings.STATIC_URL.strip("/") + "/"
    assets = [u for u in referenced if u.startswith(static)]
    assert assets, f"{page} loads no static files: {referenced}"
    assert all(u.startswith((static, "/api/schema/")) for u in referenced), referenced
    assert all("drf_spectacular_sidecar/" in u for u in assets), assets
    if page == "/api/docs/":
        assert "/api/schema/" in html  # the schema Swagger UI reads, same origin


def test_the_sidecar_is_what_the_docs_use() -> None:
    ui = settings.SPECTACULAR_SETTINGS
    assert (ui["SWAGGER_UI_DIST"], ui["SWAGGER_UI_FAVICON_HREF"], ui["REDOC_DIST"]) == ("SIDECAR",) * 3
    assert "drf_spectacular_sidecar" in settings.INSTALLED_APPS
    pins = Path(settings.BASE_DIR, "requirements.txt").read_text()
    assert re.search(r"^drf-spectacular-sidecar==\d", pins, re.M), "the sidecar is pinned"


@pytest.mark.django_db
def test_the_docs_static_files_are_served_after_collectstatic(tmp_path: Path) -> None:
    """As deployed: collectstatic into STATIC_ROOT, then WhiteNoise serves from it
    (a fresh Client builds a fresh middleware, which reads the new STATIC_ROOT)."""
    with override_settings(STATIC_ROOT=tmp_path):
        call_command("collectstatic", interactive=False, verbosity=0)
        client = Client()
        assets: set[str] = set()
        for page in DOCS:
            referenced, _ = _urls(client.get(page).content.decode())
            assets |= {u for u in referenced if "drf_spectacular_sidecar/" in u}
        assert len(assets) >= 5, assets  # Swagger UI's bundle, preset, css, icon; ReDoc's bundle
        for url in sorted(assets):
            response = client.get(url)
            assert response.status_code == 200, url
            body = response.getvalue()  # whole, streamed or not
            source = finders.find(url.removeprefix("/" + settings.STATIC_URL.strip("/") + "/"))
            assert source and body == Path(str(source)).read_bytes(), url  # the sidecar's file, whole
            expected = {".js": "javascript", ".css": "text/css", ".png": "image/png"}[Path(url).suffix]
            assert expected in response["Content-Type"], (url, response["Content-Type"])
