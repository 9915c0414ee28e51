"""On a 360 px phone a list loads the small square of each photo, never the 400 px thumbnail."""

import pytest
from conftest import (
    PHOTOS,
    approve_public,
    blur_all,
    make_observation_with_photo,
    make_place,
    make_user,
    make_walk,
)
from playwright.sync_api import expect

from fieldwalk.photos import squares
from fieldwalk.status import ensure_public_token


@pytest.mark.parametrize(("density", "edge"), [(2, 150), (3, 300)])
def test_the_public_walk_list_loads_the_square_that_fits_the_screen(phone, app, db, density, edge):
    coordinator = make_user(db, "coordinator")
    walk = make_walk(db, make_place(db), coordinator["id"], state="ongoing")
    observation_id, photo = make_observation_with_photo(
        app, db, walk, PHOTOS / "gps" / "DSCN0010.jpg"
    )
    approve_public(db, observation_id)  # the public list shows only what staff approved,
    blur_all(app, db)  # from its blurred copy
    thumb = db.execute(
        "SELECT public_thumb_file FROM photos WHERE id = ?", [photo["id"]]
    ).fetchone()[0]
    token = ensure_public_token(db, walk["id"])
    page = phone(device_scale_factor=density)
    images: list[str] = []
    page.on("request", lambda r: images.append(r.url) if r.resource_type == "image" else None)

    page.goto(f"/w/{token}")
    thumbnail = page.locator("li.observation img")
    expect(thumbnail).to_have_js_property("complete", True)

    assert page.evaluate("innerWidth") == 360
    current = thumbnail.evaluate("img => img.currentSrc")
    assert current.endswith("/photos/" + squares.square_path(thumb, edge))
    # Decoded, and its density (edge / 72 px, from the srcset's width) makes it 72 px wide.
    assert thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [72, 72]
    box = thumbnail.bounding_box()
    assert (round(box["width"]), round(box["height"])) == (72, 72)
    assert not any(url.endswith((thumb, photo["thumb_file"])) for url in images), images
