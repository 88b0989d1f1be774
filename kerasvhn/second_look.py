"""The locator's second look: each box found in the whole photo is located again in a
square window around it, at a resolution where the number fills a good part of the
frame, and takes the window's box that overlaps it most.

Read whole at 512 pixels, a number a tenth of a photo's width is about 50 input
pixels wide and its box is placed to a cell of 8; read again in a window twice its
width resized to 256 pixels, it is about 128 pixels wide, and its edges are placed
more than twice as finely. A cascade in the manner of two-stage detectors (R-CNN's box
refinement; Cai and Vasconcelos 2018, "Cascade R-CNN"), with the same network for both
looks. The box keeps its first score: the second look moves boxes, it does not rank
them.

>>> window_around(Box(100, 40, 60, 20, 0.9), 2.0, (400, 300))
(70.0, 0.0, 120.0)
"""

import keras
import numpy as np
from PIL import Image

from kerasvhn.locator import Box, decode_boxes, iou

#: A window's box replaces a first box only if they overlap at least this much (IoU):
#: otherwise the window found another number, or none, and the first box stays.
MATCH_IOU = 0.3
#: The least score of the boxes looked for in a window.
WINDOW_MIN_SCORE = 0.1


def window_around(box, factor, size):
    """The square window (left, top, side) in the photo's pixels around a box: `factor`
    times the box's longer side, centred on it, moved inside the photo (of (width,
    height) `size`) where it fits, centred on the photo along a side where it does not."""
    width, height = size
    side = float(factor * max(box.width, box.height))
    cx, cy = box.left + box.width / 2, box.top + box.height / 2

    def start(centre, extent):
        if side >= extent:
            return (extent - side) / 2
        return float(min(max(centre - side / 2, 0.0), extent - side))

    return start(cx, width), start(cy, height), side


def window_pixels(image, window, side):
    """The window (left, top, length) of an RGB PIL image as the locator reads it:
    resized to side x side, float32 in [0, 1]; beyond the photo, its edge pixels
    repeated. Returns (pixels, scale): scale = side / the window's length."""
    left, top, length = window
    width, height = image.size
    scale = side / length
    # The photo's part inside the window, resized by the same scale, then padded.
    x0, y0 = max(left, 0.0), max(top, 0.0)
    x1, y1 = min(left + length, width), min(top + length, height)
    inner_w = max(1, min(side, int(round((x1 - x0) * scale))))
    inner_h = max(1, min(side, int(round((y1 - y0) * scale))))
    inner = image.resize((inner_w, inner_h), Image.BILINEAR, box=(x0, y0, x1, y1))
    pixels = np.asarray(inner, np.float32) / np.float32(255)
    pad_left = min(side - inner_w, max(0, int(round((x0 - left) * scale))))
    pad_top = min(side - inner_h, max(0, int(round((y0 - top) * scale))))
    pixels = np.pad(pixels, ((pad_top, side - inner_h - pad_top), (pad_left, side - inner_w - pad_left), (0, 0)),
                    mode="edge")
    return pixels, scale


def look_again(locator, image, boxes, factor, side, batch_size=8):
    """`boxes` (a photo's `Box`es) each replaced by the box the locator finds in a
    window `factor` times its longer side, read at side x side pixels, that overlaps
    it most (IoU at least MATCH_IOU), clipped to the photo; the first score kept."""
    if not boxes:
        return []
    windows = [window_around(box, factor, image.size) for box in boxes]
    looked = []
    for begin in range(0, len(boxes), batch_size):
        fitted = [window_pixels(image, window, side) for window in windows[begin : begin + batch_size]]
        outputs = locator.predict_on_batch(np.stack([pixels for pixels, _ in fitted]))
        heat, box = (keras.ops.convert_to_numpy(outputs[key]) for key in ("heat", "box"))
        for k, (_, scale) in enumerate(fitted):
            looked.append((decode_boxes(heat[k], box[k], WINDOW_MIN_SCORE), scale))
    width, height = image.size
    moved = []
    for first, window, (found, scale) in zip(boxes, windows, looked):
        left, top, _ = window
        corners = (first.left, first.top, first.left + first.width, first.top + first.height)
        candidates = [(c[0] / scale + left, c[1] / scale + top, c[2] / scale + left, c[3] / scale + top)
                      for c in found]
        best = max(candidates, key=lambda c: iou(c, corners), default=None)
        if best is None or iou(best, corners) < MATCH_IOU:
            moved.append(first)
            continue
        x0, y0 = max(best[0], 0.0), max(best[1], 0.0)
        x1, y1 = min(best[2], float(width)), min(best[3], float(height))
        moved.append(Box(x0, y0, x1 - x0, y1 - y0, first.score) if x1 - x0 >= 1 and y1 - y0 >= 1 else first)
    return moved
