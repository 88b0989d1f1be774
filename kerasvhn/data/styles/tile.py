"""Glazed ceramic house-number tiles: one square tile per digit (or one tile for the
whole number), white or cream glaze with blue, black or terracotta painted digits, a
painted frame line (corner ornaments held out), grout between tiles, a glossy
reflection."""

import numpy as np

from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures
from kerasvhn.data.styles import surroundings
from kerasvhn.data.styles.canvas import Arrangement

NAME = "tile"
WEIGHT = 0.5
DESCRIPTION = "glazed ceramic tiles, one per digit, painted digits and frame lines, grout, gloss"
GLAZES = ((0.95, 0.95, 0.92), (0.93, 0.89, 0.78), (0.9, 0.93, 0.95))
PAINTS = ((0.08, 0.2, 0.6), (0.05, 0.05, 0.08), (0.6, 0.25, 0.1), (0.1, 0.35, 0.25))
ONE_TILE_SHARE = 0.25  # the whole number on one long tile


def arrange(rng, split):
    return Arrangement(tracking=rng.uniform(1.2, 1.55))


def paint(rng, canvas):
    glaze = np.array(GLAZES[int(rng.integers(len(GLAZES)))], np.float32) + rng.normal(0, 0.02, 3).astype(np.float32)
    ink = np.array(PAINTS[int(rng.integers(len(PAINTS)))], np.float32)
    image = surroundings.wall(rng, canvas, layers.pick_colour(rng), edge_share=0.2)
    h = canvas.char_height
    pad = rng.uniform(0.15, 0.35) * h
    grout = np.clip(glaze * rng.uniform(0.5, 0.85), 0, 1)
    rects = _tiles(rng, canvas, pad)
    mask = np.zeros((canvas.height, canvas.width), np.float32)
    for rect in rects:
        mask = np.maximum(mask, layers.shape_mask(canvas.width, canvas.height, rect, "rounded", 0.05 * h, 1))
    surface = glaze + 0.04 * textures.smooth_noise(rng, canvas.width, canvas.height, 4)
    image = layers.blend(image, mask, surface)
    grid = np.zeros_like(mask)  # grout lines between neighbouring tiles
    for rect in rects[1:]:
        joint = _joint(rect, canvas.vertical, pad)
        grid = np.maximum(grid, layers.shape_mask(canvas.width, canvas.height, joint, "rounded", 0, 1))
    image = layers.blend(image, grid * mask, grout)
    image = layers.relief(image, mask, np.pi / 3, max(1, int(0.04 * h)), 0.3, 0.4)
    for rect in rects:
        image = _decoration(rng, canvas, image, rect, ink)
    if canvas.ink is not None:
        image = layers.blend(image, canvas.alpha, ink + rng.normal(0, 0.03, 3).astype(np.float32))
    return layers.gloss(rng, image, mask, rng.uniform(0.2, 0.6))


def _tiles(rng, canvas, pad):
    """The tiles' rects: one square per character, side by side, or one for all."""
    x0, y0, x1, y1 = canvas.box_px
    if not canvas.char_boxes or rng.random() < ONE_TILE_SHARE:
        return [(x0 - pad, y0 - pad, x1 + pad, y1 + pad)]
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in canvas.char_boxes]
    if canvas.vertical:
        side = max(y1 - y0, 1) / len(centres) + pad
        return [(x0 - pad, cy - side / 2, x1 + pad, cy + side / 2) for _, cy in centres]
    side = max(x1 - x0, 1) / len(centres) + pad
    return [(cx - side / 2, y0 - pad, cx + side / 2, y1 + pad) for cx, _ in centres]


def _joint(rect, vertical, pad):
    """The thin grout strip along a tile's leading edge."""
    width = max(1.0, 0.08 * pad)
    if vertical:
        return (rect[0], rect[1] - width / 2, rect[2], rect[1] + width / 2)
    return (rect[0] - width / 2, rect[1], rect[0] + width / 2, rect[3])


def _decoration(rng, canvas, image, rect, ink):
    """A painted frame line (training) or corner ornaments (held out) on one tile."""
    x0, y0, x1, y1 = rect
    inset = 0.1 * min(x1 - x0, y1 - y0)
    if canvas.split == "held_out":
        dots = np.zeros((canvas.height, canvas.width), np.float32)
        for cx, cy in ((x0 + inset, y0 + inset), (x1 - inset, y0 + inset), (x0 + inset, y1 - inset),
                       (x1 - inset, y1 - inset)):
            r = inset * 0.7
            dots = np.maximum(dots, layers.shape_mask(canvas.width, canvas.height, (cx - r, cy - r, cx + r, cy + r),
                                                      "oval", supersample=1))
        return layers.blend(image, dots, ink)
    if rng.random() < 0.4:
        return image
    width = max(1.0, 0.3 * inset)
    outer = (x0 + inset, y0 + inset, x1 - inset, y1 - inset)
    inner = (outer[0] + width, outer[1] + width, outer[2] - width, outer[3] - width)
    ring = np.clip(layers.shape_mask(canvas.width, canvas.height, outer, supersample=1)
                   - layers.shape_mask(canvas.width, canvas.height, inner, supersample=1), 0, 1)
    return layers.blend(image, ring, ink)
