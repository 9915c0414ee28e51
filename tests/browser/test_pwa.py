"""The installable app: Chromium's own installability check, and the outbox's last resort."""

import json
import re
import zipfile

from conftest import PHOTOS, make_place, make_user, make_walk
from playwright.sync_api import expect

from .test_offline import NETWORK_ERRORS, Network, join, record

CANON = PHOTOS / "camera" / "Canon_40D.jpg"


def test_chromium_finds_the_app_installable(phone, db):
    walk = make_walk(db, make_place(db), make_user(db, "coordinator")["id"], state="ongoing")
    page = phone()
    join(page, walk)  # waits until the service worker is active
    manifest = page.evaluate("fetch('/manifest.webmanifest').then(r => r.json())")
    assert manifest["display"] == "standalone"
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}
    assert any(icon.get("purpose") == "maskable" for icon in manifest["icons"])
    cdp = page.context.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Playwright's contexts are incognito, which alone keeps Chromium from offering install;
    # every check about the app itself (manifest, icons, worker, secure context) passes.
    assert [e for e in errors if e["errorId"] != "in-incognito"] == [], errors


def test_unsent_observations_export_as_a_zip_that_import_outbox_stores_once(
    phone, db, app, tmp_path
):
    walk = make_walk(db, make_place(db), make_user(db, "coordinator")["id"], state="ongoing")
    phone.expect_console_error(NETWORK_ERRORS)
    page = phone()
    net = Network(page.context)
    join(page, walk)
    net.go_offline()
    record(page, "Exporteras som zip", [CANON])
    record(page, "Och en till", [])

    # Back in signal for pages, but the API still unreachable: the entries stay to export.
    page.route("**/api/**", lambda route: route.abort("internetdisconnected"))
    net.go_online()
    page.goto("/outbox")
    expect(page.locator("#outbox-list li")).to_have_count(2)
    with page.expect_download() as download:
        page.locator("#outbox-export").click()
    path = tmp_path / "outbox.zip"
    download.value.save_as(path)
    assert re.match(r"fieldwalk-outbox-\d{4}-\d{2}-\d{2}\.zip$", download.value.suggested_filename)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None, "a valid ZIP, every CRC right"
        manifest = json.loads(archive.read("outbox.json"))
        assert [len(e["photos"]) for e in manifest["entries"]] == [1, 0]
        photo = manifest["entries"][0]["photos"][0]
        assert archive.read(photo["file"])[:3] == b"\xff\xd8\xff", "the photo's JPEG bytes"

    runner = app.test_cli_runner()
    first = runner.invoke(args=["import-outbox", str(path)])
    assert first.exit_code == 0, first.output
    assert runner.invoke(args=["import-outbox", str(path)]).exit_code == 0
    assert db.execute("SELECT count(*) FROM observations").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM photos").fetchone()[0] == 1
