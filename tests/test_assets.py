"""The asset build: minified copies and bundles, the URLs pages use, the worker's shell."""

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import join, make_place, make_walk

from fieldwalk.assets import BUNDLES, build, bundle_urls
from fieldwalk.pwa import shell_urls

STATIC = Path(__file__).resolve().parent.parent / "static"


@pytest.fixture
def static_copy(app, tmp_path):
    """The app serving a copy of the sources every bundle is built from, with no build yet."""
    folder = tmp_path / "static"
    for part in {part for parts in BUNDLES.values() for part in parts}:
        (folder / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(STATIC / part, folder / part)
    app.static_folder = str(folder)
    return folder


def test_bundles_join_their_parts_in_order(static_copy):
    built = build(static_copy)
    assert {f"build/bundles/{name}" for name in BUNDLES} <= set(built)
    common = (static_copy / "build/bundles/common.js").read_text()
    assert common.index("htmx:load") < common.index("input.copy") < common.index("offline-config")
    scripts = (static_copy / "build/bundles/map.js").read_text()
    assert "sourceMappingURL" not in scripts  # Leaflet's map is not shipped
    assert scripts.index('version="1.9.4"') < scripts.index("fieldwalkMaps")
    assert build(static_copy) == []  # up to date: nothing rebuilt


def test_bundled_style_sheet_still_finds_its_images(static_copy):
    build(static_copy)
    css = (static_copy / "build/bundles/map.css").read_text()
    urls = set(re.findall(r"url\(([^)]+)\)", css)) - {"#default#VML"}
    assert urls, "Leaflet's layer and marker images"
    for url in urls:
        assert Path(os.path.normpath(STATIC / "build/bundles" / url)).is_file(), url


def test_pages_load_the_bundle_once_built_and_its_parts_while_it_is_stale(app, static_copy):
    with app.test_request_context():
        parts = bundle_urls("common.js")
        assert [url.split("?")[0] for url in parts] == [
            "/static/vendor/htmx-2.0.11/htmx.min.js",
            "/static/js/app.js",
            "/static/js/offline.js",
        ]
        build(static_copy)
        (bundled,) = bundle_urls("common.js")
        assert bundled.startswith("/static/build/bundles/common.js?v=")
        later = (static_copy / "build/bundles/common.js").stat().st_mtime + 10
        os.utime(static_copy / "js/offline.js", (later, later))  # edited after the build
        urls = bundle_urls("common.js")
        assert len(urls) == 3 and not any("/bundles/" in url for url in urls)


def test_worker_keeps_every_script_and_style_the_walk_and_capture_pages_load(app, client, db):
    """Same URLs as the pages, so the worker's shell costs no second download. The map is the
    exception: the worker keeps it when a page first shows one, never on a phone that has not."""
    walk = make_walk(db, make_place(db), state="ongoing")
    join(client, walk)
    with app.test_request_context():
        shell = set(shell_urls())
        the_map = set(bundle_urls("map-lite.js") + bundle_urls("map-lite.css"))
    assert not shell & the_map
    for path in (f"/walks/{walk['id']}", f"/walks/{walk['id']}/capture"):
        html = client.get(path).get_data(as_text=True)
        loaded = set(re.findall(r'<script src="([^"]+)"', html))
        loaded |= set(re.findall(r'<link rel="stylesheet" href="([^"]+)"', html))
        assert loaded and loaded - the_map <= shell, loaded - the_map - shell
        # The capture screen names the map's files for when someone asks to see the map.
        if path.endswith("/capture"):
            assert all(url.replace("&", "&amp;") in html for url in the_map)


def test_worker_script_is_minified_and_still_imports_the_outbox(app, client):
    body = client.get("/sw.js").get_data(as_text=True)
    with app.test_request_context():
        outbox = next(url for url in shell_urls() if "/outbox.js" in url)
    assert f'importScripts("{outbox}")' in body
    assert "/*" not in body and "\n  " not in body
