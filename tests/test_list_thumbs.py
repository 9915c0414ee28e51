"""List thumbnails: every list shows a photo as a 72 px square from a 150 or 300 px square
JPEG (srcset), not the 400 px thumbnail; photos stored before the squares existed get them on
their first request, and check-photos counts them as their thumbnail's."""

import io
import re
from pathlib import Path

import pytest
from conftest import (
    PHOTOS,
    approve_public,
    blur_all,
    login,
    make_observation_with_photo,
    make_place,
    make_staff,
    make_walk,
)
from PIL import Image, ImageChops, ImageStat

from fieldwalk.devtools.faceset import labelled_set
from fieldwalk.photos import squares
from fieldwalk.status import ensure_public_token

DSCN0010 = PHOTOS / "gps" / "DSCN0010.jpg"  # 640x480 with a Nikon's EXIF and GPS
ROTATED = PHOTOS / "orientation" / "landscape_6.jpg"  # stored portrait, EXIF says turn 90°


@pytest.fixture
def walk(db):
    coordinator = make_staff(db, "coordinator")
    return make_walk(db, make_place(db), coordinator["id"], state="ongoing")


@pytest.fixture
def photo(app, db, walk):
    """The photo row of an observation on the walk."""
    _observation_id, row = make_observation_with_photo(app, db, walk, DSCN0010)
    return row


@pytest.fixture
def staff(db, client):
    """The test client logged in as a coordinator, who may see originals and their squares."""
    login(client, make_staff(db, "coordinator", email="staff-squares@example.se"))
    return client


def srcsets(html: str) -> list[str]:
    return re.findall(r'srcset="([^"]+)"', html)


def fetch_image(client, url: str) -> tuple[bytes, Image.Image]:
    response = client.get(url, buffered=True)
    assert response.status_code == 200, url
    assert response.mimetype == "image/jpeg"
    image = Image.open(io.BytesIO(response.data))
    image.load()
    return response.data, image


def test_a_stored_photo_has_square_list_thumbnails_without_metadata(app, staff, photo):
    photo_dir = Path(app.config["PHOTO_PATH"])
    paths = squares.square_paths(photo["thumb_file"])
    assert all((photo_dir / p).is_file() for p in paths)  # written with the photo itself
    for path, edge in zip(paths, (150, 300), strict=True):
        data, image = fetch_image(staff, f"/photos/{path}")
        assert image.size == (edge, edge)
        assert image.format == "JPEG"
        assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
        assert b"NIKON" not in data
        assert len(data) < len((photo_dir / photo["thumb_file"]).read_bytes())


def test_a_rotated_photo_has_upright_squares_cropped_to_the_centre(app, db, walk, staff):
    _id, row = make_observation_with_photo(app, db, walk, ROTATED)
    photo_dir = Path(app.config["PHOTO_PATH"])
    with Image.open(photo_dir / row["thumb_file"]) as thumb:
        side = min(thumb.size)
        left, top = (thumb.width - side) // 2, (thumb.height - side) // 2
        centre = thumb.convert("RGB").crop((left, top, left + side, top + side)).resize((8, 8))
    _data, square = fetch_image(staff, f"/photos/{squares.square_path(row['thumb_file'], 150)}")
    small = square.convert("RGB").resize((8, 8))
    difference = ImageStat.Stat(ImageChops.difference(centre, small)).mean
    assert max(difference) < 12  # the same picture, the same way up, give or take JPEG


def test_every_list_offers_the_squares_at_72_px(app, db, client, walk, photo):
    coordinator = make_staff(db, "coordinator", email="lists@example.se")
    login(client, coordinator)
    token = ensure_public_token(db, walk["id"])
    approve_public(db, photo["observation_id"])
    blur_all(app, db)
    public_thumb = db.execute(
        "SELECT public_thumb_file FROM photos WHERE id = ?", [photo["id"]]
    ).fetchone()[0]

    def expected(thumb: str) -> str:
        return ", ".join(f"/photos/{squares.square_path(thumb, e)} {e}w" for e in (150, 300))

    for page, thumb in (
        (f"/walks/{walk['id']}", photo["thumb_file"]),
        (f"/walks/{walk['id']}/tasks", photo["thumb_file"]),
        (f"/w/{token}", public_thumb),  # the public page: the blurred copy's squares
    ):
        html = client.get(page).get_data(as_text=True)
        assert expected(thumb) in srcsets(html), page
        img = re.search(r"<img[^>]*srcset=[^>]*>", html).group(0)
        assert 'sizes="72px"' in img and 'width="72"' in img and 'height="72"' in img
        assert f'src="/photos/{photo["thumb_file"]}"' not in html, page


def test_a_photo_stored_before_squares_gets_them_on_first_request(app, staff, runner, photo):
    photo_dir = Path(app.config["PHOTO_PATH"])
    paths = squares.square_paths(photo["thumb_file"])
    for path in paths:
        (photo_dir / path).unlink()
    assert (
        runner.invoke(args=["check-photos"])
        .output.strip()
        .endswith("0 orphan file(s), 0 missing file(s).")
    )

    _data, image = fetch_image(staff, f"/photos/{paths[1]}")

    assert image.size == (300, 300)
    assert all((photo_dir / p).is_file() for p in paths)  # both made at once
    assert runner.invoke(args=["check-photos"]).output.strip() == (
        "0 orphan file(s), 0 missing file(s)."
    )


def test_a_square_of_no_stored_thumbnail_or_of_another_size_is_404(app, client, photo):
    stem = photo["thumb_file"].rsplit(".", 1)[0]
    missing = "ab/" + "0" * 64
    for path in (f"{missing}.150.jpg", f"{stem}.151.jpg", f"{stem}.1500.jpg", f"{stem}..150.jpg"):
        assert client.get(f"/photos/{path}").status_code == 404, path
    photo_dir = Path(app.config["PHOTO_PATH"])
    assert not any(p.name.endswith((".151.jpg", ".1500.jpg")) for p in photo_dir.rglob("*"))


def test_an_unreadable_thumbnail_gives_404_not_500(app, staff, photo):
    photo_dir = Path(app.config["PHOTO_PATH"])
    for path in squares.square_paths(photo["thumb_file"]):
        (photo_dir / path).unlink()
    (photo_dir / photo["thumb_file"]).write_bytes(b"not a jpeg at all")
    response = staff.get(f"/photos/{squares.square_path(photo['thumb_file'], 150)}")
    assert response.status_code == 404


def test_squares_of_a_thumbnail_no_row_refers_to_are_orphans(app, runner, photo):
    photo_dir = Path(app.config["PHOTO_PATH"])
    stray = squares.square_path("cd/" + "c" * 64 + ".jpg", 150)
    (photo_dir / stray).parent.mkdir(parents=True, exist_ok=True)
    (photo_dir / stray).write_bytes(b"left behind")
    result = runner.invoke(args=["check-photos", "--fix"])
    assert f"removed: {stray}" in result.output
    assert all((photo_dir / p).is_file() for p in squares.square_paths(photo["thumb_file"]))


def test_a_square_follows_its_thumbnails_rule_for_anyone_else(app, db, client, walk, tmp_path):
    """Someone who may not see the original gets the grey stand-in while the blurred copy is
    being made, then is sent to the blurred copy's square: never the original's pixels."""
    portrait = tmp_path / "portrait.jpg"
    labelled_set()[0].image.save(portrait, "JPEG", quality=92)  # three faces
    _id, photo = make_observation_with_photo(app, db, walk, portrait)
    original = squares.square_path(photo["thumb_file"], 150)
    pending = client.get(f"/photos/{original}")
    assert pending.status_code == 200 and pending.headers["X-Photo-Pending"] == "1"

    blur_all(app, db)
    public_thumb = db.execute(
        "SELECT public_thumb_file FROM photos WHERE id = ?", [photo["id"]]
    ).fetchone()[0]
    assert public_thumb != photo["thumb_file"]  # the faces made it a different picture
    response = client.get(f"/photos/{original}")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(squares.square_path(public_thumb, 150))
    _data, image = fetch_image(client, response.headers["Location"])
    assert image.size == (150, 150)
    assert not image.getexif()
