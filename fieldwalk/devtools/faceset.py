"""A labelled set of real faces, for testing and measuring the face blur (no downloads).

Every face is a real photograph that an installed package ships, in the public domain or
under an open licence (tests/data/faces/README.md says which and where from):

- scikit-image's `astronaut` (Eileen Collins, NASA, public domain): a frontal face;
- scikit-image's `camera` (a man with a camera, CC0, Lav Varshney): a face turned away,
  seen three-quarters from the side;
- scikit-image's `lfw_subset`: 100 faces from Labeled Faces in the Wild (news photographs,
  cropped to the face at 25x25 pixels), and 100 patches of the same photos' backgrounds.

They are placed into the demo's painted dusk scenes (fieldwalk/devtools/demo_photos.py) at
the sizes and light a walk at night gives: large, small (16-24 px faces in a 1600 px
photo), dark (a quarter of the light, with sensor noise) and turned to the side. Each scene
knows where its faces are, so a detector's recall and false positives can be counted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageChops, ImageEnhance

from fieldwalk.devtools.demo_photos import paint_scene

# The size the pipeline detects faces at (the display copy's long edge).
WIDTH, HEIGHT = 1600, 1200


@dataclass
class Scene:
    """One labelled photo: what it shows, its pixels and its faces' boxes."""

    name: str
    image: Image.Image
    faces: list[tuple[int, int, int, int]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # each face's: large, small, dark, side


def _sources():
    """(astronaut, astronaut's face box, camera, camera's face box, lfw faces, lfw others)."""
    import skimage.data  # ships the three images inside the installed package

    astronaut = Image.fromarray(skimage.data.astronaut()).convert("RGB")
    camera = Image.fromarray(skimage.data.camera()).convert("RGB")
    lfw = (skimage.data.lfw_subset() * 255).astype(np.uint8)
    patches = [Image.fromarray(a).convert("RGB") for a in lfw]
    # Boxes drawn by hand on the 512x512 originals: brow to chin, ear to ear.
    return (
        astronaut,
        (176, 52, 272, 182),
        camera,
        (198, 112, 262, 200),
        patches[:100],
        patches[100:],
    )


def _darken(image: Image.Image, seed: int) -> Image.Image:
    """A quarter of the light, a little blue, and a phone sensor's noise in the dark."""
    dim = ImageEnhance.Brightness(image).enhance(0.25)
    rng = random.Random(seed)
    noise = Image.frombytes("L", dim.size, rng.randbytes(dim.width * dim.height))
    noise = noise.point(lambda v: v >> 4)
    return ImageChops.add(dim, Image.merge("RGB", (noise, noise, noise)), offset=-8)


def _place(scene: Image.Image, photo: Image.Image, box, height: int, at: tuple[int, int]):
    """Paste the face of `photo` (with as much again around it on each side) scaled so the
    face is `height` pixels tall, its top left corner at `at`; return the face's box."""
    w, h = box[2] - box[0], box[3] - box[1]
    crop = (
        max(0, box[0] - w),
        max(0, box[1] - h),
        min(photo.width, box[2] + w),
        min(photo.height, box[3] + h),
    )
    scale = height / h
    size = (round((crop[2] - crop[0]) * scale), round((crop[3] - crop[1]) * scale))
    scene.paste(photo.crop(crop).resize(size, Image.Resampling.LANCZOS), at)
    left, top = at[0] + round((box[0] - crop[0]) * scale), at[1] + round((box[1] - crop[1]) * scale)
    return (left, top, left + round(w * scale), top + height)


def _grid(name, kind, patches, size, seed, dark=False, labelled=True) -> Scene:
    """A dusk scene with a grid of LFW patches `size` pixels wide pasted over it."""
    image = paint_scene(("square", "tunnel", "path", "corner")[seed % 4], f"faces-{seed}")
    image = image.resize((WIDTH, HEIGHT))
    gap = max(size, 24)
    per_row = (WIDTH - gap) // (size + gap)
    boxes = []
    for i, patch in enumerate(patches):
        x = gap + (i % per_row) * (size + gap)
        y = gap + (i // per_row) * (size + gap)
        if y + size > HEIGHT:
            break
        image.paste(patch.resize((size, size), Image.Resampling.BICUBIC), (x, y))
        boxes.append((x, y, x + size, y + size))
    if dark:
        image = _darken(image, seed)
    if not labelled:
        return Scene(name, image)
    return Scene(name, image, boxes, [kind] * len(boxes))


def labelled_set() -> list[Scene]:
    """Every scene of the set, faces and face-free ones, in a fixed order."""
    astronaut, a_box, camera, c_box, faces, others = _sources()
    scenes = []
    for n, (kind, height, dark) in enumerate(
        [("large", 200, False), ("small", 28, False), ("dark", 120, True), ("dark", 40, True)]
    ):
        image = paint_scene("square", f"portrait-{n}").resize((WIDTH, HEIGHT))
        mirrored = camera.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        boxes = [
            _place(image, astronaut, a_box, height, (60, 300)),
            _place(image, camera, c_box, height, (580, 300)),
            # Turned the other way too: a face seen from the side looks left or right.
            _place(
                image,
                mirrored,
                (512 - c_box[2], c_box[1], 512 - c_box[0], c_box[3]),
                height,
                (1100, 300),
            ),
        ]
        image = _darken(image, n) if dark else image
        name = f"portraits, {height} px faces{', dark' if dark else ''}"
        # The astronaut faces the camera; the man with the camera is turned to the side,
        # which counts as "side" in daylight at a usable size.
        turned = "side" if kind == "large" else kind
        scenes.append(Scene(name, image, boxes, [kind, turned, turned]))
    for size, dark, seed in [(40, False, 1), (24, False, 2), (16, False, 3), (32, True, 4)]:
        kind = "dark" if dark else ("small" if size < 30 else "large")
        label = f"LFW faces, {size} px{', dark' if dark else ''}"
        scenes.append(_grid(label, kind, faces, size, seed, dark))
    for size, dark, seed in [(40, False, 5), (24, False, 6), (32, True, 7)]:
        label = f"LFW backgrounds (no face), {size} px{', dark' if dark else ''}"
        scenes.append(_grid(label, "none", others, size, seed, dark, labelled=False))
    for n, scene in enumerate(("tunnel", "bushes", "litter", "graffiti", "path", "corner")):
        image = paint_scene(scene, f"empty-{n}").resize((WIDTH, HEIGHT))
        scenes.append(Scene(f"painted {scene} (no face)", image))
    return scenes


def score(scenes: list[Scene], detect) -> dict:
    """Recall (by kind of face) and false positives of `detect(image) -> boxes`.

    A face is found when a detected box's centre lies inside its labelled box; a detected
    box whose centre lies inside no labelled face is a false positive.
    """
    found: dict[str, list[int]] = {}
    false_positives = 0
    images_with_fp = 0
    face_free_fp = 0
    for scene in scenes:
        boxes = detect(scene.image)
        centres = [((b.left + b.right) / 2, (b.top + b.bottom) / 2) for b in boxes]
        for face, kind in zip(scene.faces, scene.kinds, strict=True):
            hit = any(face[0] <= x <= face[2] and face[1] <= y <= face[3] for x, y in centres)
            found.setdefault(kind, [0, 0])
            found[kind][0] += hit
            found[kind][1] += 1
        stray = sum(
            not any(f[0] <= x <= f[2] and f[1] <= y <= f[3] for f in scene.faces)
            for x, y in centres
        )
        false_positives += stray
        images_with_fp += bool(stray)
        face_free_fp += bool(stray) and not scene.faces
    total_found = sum(v[0] for v in found.values())
    total = sum(v[1] for v in found.values())
    return {
        "faces": total,
        "found": total_found,
        "recall": total_found / total if total else 0.0,
        "by_kind": {k: (v[0], v[1]) for k, v in sorted(found.items())},
        "images": len(scenes),
        "false_positives": false_positives,
        "images_with_false_positive": images_with_fp,
        "face_free_images": sum(1 for s in scenes if not s.faces),
        "face_free_images_with_false_positive": face_free_fp,
    }
