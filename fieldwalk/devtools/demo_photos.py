"""Painted night scenes with EXIF position and time: the demo's photos, made on the fly."""

import io
import random
from datetime import datetime

from PIL import Image, ImageChops, ImageDraw, ImageFilter
from PIL.TiffImagePlugin import IFDRational

W, H = 1600, 1200


def demo_photo(scene: str, seed: str, gps: tuple[float, float], taken: datetime) -> bytes:
    """A JPEG of a painted dusk scene with the EXIF GPS and time a phone would write."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "fieldwalk", "demo"  # Make, Model
    ifd = exif.get_ifd(0x8825)  # GPS
    ifd[0] = b"\x02\x02\x00\x00"  # GPSVersionID
    ifd[1], ifd[2] = ("N" if gps[0] >= 0 else "S"), _dms(gps[0])
    ifd[3], ifd[4] = ("E" if gps[1] >= 0 else "W"), _dms(gps[1])
    ifd = exif.get_ifd(0x8769)  # Exif
    ifd[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal, local time
    offset = taken.strftime("%z")
    ifd[0x9011] = f"{offset[:3]}:{offset[3:]}"  # OffsetTimeOriginal
    out = io.BytesIO()
    paint_scene(scene, seed).save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    value = abs(value)
    degrees, minutes = int(value), int(value * 60) % 60
    seconds = round((value * 3600 - degrees * 3600 - minutes * 60) * 1000)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, 1000)


def paint_scene(scene: str, seed: str) -> Image.Image:
    """Paint a suburban dusk scene (sky, blocks of flats, asphalt, the subject, grain)."""
    rng = random.Random(seed)
    horizon = rng.randint(520, 600)
    im = Image.new("RGB", (W, H))
    im.paste(_gradient((20, 28, 62), (205, 122, 86), horizon), (0, 0))
    im.paste(_gradient((84, 84, 90), (34, 34, 38), H - horizon), (0, horizon))
    draw = ImageDraw.Draw(im)
    x = rng.randint(-120, 0)
    while x < W:
        width, height = rng.randint(160, 360), rng.randint(140, 380)
        draw.rectangle((x, horizon - height, x + width, horizon), fill=(34, 36, 46))
        for wx in range(x + 16, x + width - 24, 34):
            for wy in range(horizon - height + 18, horizon - 20, 40):
                lit = rng.random() < 0.35
                draw.rectangle(
                    (wx, wy, wx + 16, wy + 20), fill=(246, 206, 132) if lit else (46, 50, 66)
                )
        x += width + rng.randint(10, 90)
    PAINTERS[scene](im, draw, rng, horizon)
    grain = Image.frombytes("L", (W // 2, H // 2), rng.randbytes(W * H // 4))
    grain = grain.point(lambda v: v >> 3).resize((W, H))
    return ImageChops.add(im, Image.merge("RGB", (grain, grain, grain)), offset=-16)


def _gradient(top: tuple, bottom: tuple, height: int) -> Image.Image:
    column = Image.new("RGB", (1, height))
    column.putdata(
        [
            tuple(
                round(a + (b - a) * y / max(1, height - 1))
                for a, b in zip(top, bottom, strict=True)
            )
            for y in range(height)
        ]
    )
    return column.resize((W, height), Image.Resampling.NEAREST)


def _glow(im: Image.Image, x: int, y: int, rx: int, ry: int, colour=(255, 214, 150)) -> None:
    """A soft halo of light: blurred small and scaled up, so it costs next to nothing."""
    small = Image.new("L", (64, 64))
    ImageDraw.Draw(small).ellipse((16, 16, 48, 48), fill=190)
    mask = small.filter(ImageFilter.GaussianBlur(8)).resize((rx * 2, ry * 2))
    im.paste(colour, (x - rx, y - ry, x + rx, y + ry), mask)


def _lamp(im, draw, x: int, base: int, height: int, lit: bool) -> None:
    top = base - height
    draw.rectangle((x - 6, top, x + 6, base), fill=(58, 60, 64))
    draw.line((x, top, x + 50, top - 12), fill=(58, 60, 64), width=8)
    if lit:
        _glow(im, x + 56, top, 110, 110)
        _glow(im, x + 56, base, height // 2, height // 8, (150, 130, 96))  # light on the ground
    draw.ellipse((x + 36, top - 20, x + 76, top + 4), fill=(255, 236, 196) if lit else (70, 72, 76))


def _tunnel(im, draw, rng, horizon):
    draw.rectangle((150, horizon - 330, 1450, H), fill=(118, 116, 110))
    draw.rectangle((520, horizon - 150, 1080, H), fill=(14, 14, 16))
    draw.ellipse((520, horizon - 290, 1080, horizon - 10), fill=(14, 14, 16))
    draw.polygon([(560, H), (1040, H), (860, horizon + 60), (740, horizon + 60)], fill=(30, 30, 32))
    draw.rectangle((780, horizon - 180, 820, horizon - 170), fill=(60, 60, 58))  # the dead lamp
    _glow(im, 940, horizon - 160, 50, 50, (200, 180, 130))


def _bushes(im, draw, rng, horizon):
    draw.line(
        (1000, horizon + 40, 1160, horizon - 120, 1320, horizon + 40), fill=(196, 52, 40), width=14
    )
    draw.rectangle((1080, horizon - 40, 1240, horizon - 28), fill=(224, 180, 40))
    for _ in range(70):
        cx, cy = rng.randint(0, 900), rng.randint(horizon - 180, horizon + 380)
        r = rng.randint(60, 150)
        green = (rng.randint(20, 44), rng.randint(50, 86), rng.randint(22, 40))
        draw.ellipse((cx - r, cy - r * 3 // 4, cx + r, cy + r * 3 // 4), fill=green)
    _lamp(im, draw, 1450, horizon + 120, 520, True)


def _litter(im, draw, rng, horizon):
    for x in (300, 560):  # recycling bins
        draw.rounded_rectangle((x, horizon - 60, x + 220, horizon + 260), 30, fill=(40, 92, 60))
    draw.rectangle((900, horizon + 40, 1010, horizon + 300), fill=(60, 64, 60))
    for _ in range(60):
        x, y = rng.randint(150, 1500), rng.randint(horizon + 240, H - 20)
        w, h = rng.randint(14, 110), rng.randint(8, 70)
        colour = rng.choice(
            [(236, 236, 230), (190, 40, 36), (40, 80, 170), (150, 112, 70), (220, 200, 60)]
        )
        draw.rectangle((x, y, x + w, y + h), fill=colour)


def _graffiti(im, draw, rng, horizon):
    draw.rectangle((0, horizon - 260, W, horizon + 220), fill=(150, 148, 140))
    for x in range(0, W, 260):
        draw.line((x, horizon - 260, x, horizon + 220), fill=(120, 118, 112), width=4)
    draw.rectangle((1250, horizon + 20, 1420, horizon + 300), fill=(108, 112, 110))  # cabinet
    for _ in range(rng.randint(6, 9)):
        x, y = rng.randint(60, 1350), rng.randint(horizon - 220, horizon + 180)
        points = [(x, y)]
        for _ in range(rng.randint(6, 14)):
            x, y = x + rng.randint(-20, 70), y + rng.randint(-60, 60)
            points.append((x, y))
        colour = rng.choice(
            [(20, 20, 24), (200, 30, 140), (40, 140, 220), (240, 200, 30), (230, 80, 30)]
        )
        draw.line(points, fill=colour, width=rng.randint(6, 18), joint="curve")


def _path(im, draw, rng, horizon):
    draw.polygon([(200, H), (1400, H), (900, horizon), (700, horizon)], fill=(108, 106, 102))
    for i in range(7):  # steps
        y = H - 90 - i * 70
        draw.line((260 + i * 55, y, 1340 - i * 55, y), fill=(70, 70, 72), width=6)
    draw.line((1360, H - 40, 1230, horizon + 250), fill=(150, 150, 156), width=8)  # the rail
    draw.line((1200, horizon + 200, 1090, horizon + 40), fill=(150, 150, 156), width=8)
    for _ in range(12):
        x, y = rng.randint(500, 1100), rng.randint(horizon + 100, H - 60)
        draw.line(
            (x, y, x + rng.randint(-80, 80), y + rng.randint(10, 60)), fill=(60, 58, 56), width=3
        )
    _lamp(im, draw, 140, horizon + 200, 560, False)


def _corner(im, draw, rng, horizon):
    draw.rectangle((0, horizon - 420, 760, H), fill=(96, 56, 46))  # brick
    for y in range(horizon - 400, H, 28):
        draw.line((0, y, 760, y), fill=(80, 46, 38), width=3)
    draw.polygon(
        [(820, H), (1500, H), (1300, horizon + 80), (980, horizon + 80)], fill=(22, 22, 26)
    )
    draw.rectangle((980, horizon - 120, 1300, horizon + 80), fill=(10, 10, 12))  # garage mouth
    _lamp(im, draw, 1480, horizon + 60, 480, rng.random() < 0.5)


def _square(im, draw, rng, horizon):
    for i in range(1, 9):  # paving in perspective
        y = horizon + int((H - horizon) * (i / 8) ** 1.6)
        draw.line((0, y, W, y), fill=(70, 70, 74), width=3)
    for x in range(-800, W + 800, 200):
        draw.line((W // 2 + (x - W // 2) // 6, horizon, x, H), fill=(70, 70, 74), width=3)
    for x, height in ((180, 560), (640, 420), (1000, 330), (1300, 270)):
        _lamp(im, draw, x + rng.randint(-30, 30), horizon + height // 3, height, True)
    draw.rectangle((760, horizon + 200, 980, horizon + 226), fill=(120, 84, 50))  # bench


PAINTERS = {
    "tunnel": _tunnel,
    "bushes": _bushes,
    "litter": _litter,
    "graffiti": _graffiti,
    "path": _path,
    "corner": _corner,
    "square": _square,
}
