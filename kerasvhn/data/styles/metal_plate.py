"""Metal and slate plaques: a plate of brass, bronze, aluminium, steel, slate or black
metal screwed to the wall, its digits raised (cast) or engraved, the whole lit from
one side: a highlight on the edge of every stroke that faces the light and a shadow
on the other; screws in the corners or at the sides, sometimes a raised border."""

import math

import numpy as np

from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures
from kerasvhn.data.styles import surroundings
from kerasvhn.data.styles.canvas import Arrangement

NAME = "metal_plate"
WEIGHT = 1.5
DESCRIPTION = "cast or engraved metal and slate plaques lit from one side, with screws"
#: Plate finishes (RGB) of training; the held-out split draws only HELD_OUT_FINISHES.
FINISHES = {"brass": (0.72, 0.58, 0.28), "bronze": (0.42, 0.3, 0.17), "aluminium": (0.74, 0.75, 0.77),
            "steel": (0.5, 0.52, 0.54), "slate": (0.2, 0.22, 0.23), "black": (0.07, 0.07, 0.08)}
HELD_OUT_FINISHES = {"copper": (0.62, 0.36, 0.22), "verdigris": (0.33, 0.5, 0.44)}
RAISED_SHARE = 0.55  # cast (raised) digits; the rest engraved
INFILL_SHARE = 0.6  # engraved digits filled with paint (white, black or gold)
SCREW_SHARE, BORDER_SHARE = 0.75, 0.35
MARGINS = (0.2, 0.8)  # plate beyond the digits, in character heights


def arrange(rng, split):
    return Arrangement()


def finish(rng, split):
    finishes = HELD_OUT_FINISHES if split == "held_out" else FINISHES
    name = list(finishes)[int(rng.integers(len(finishes)))]
    return np.clip(np.array(finishes[name], np.float32) + rng.normal(0, 0.04, 3), 0, 1).astype(np.float32)


def paint(rng, canvas):
    metal = finish(rng, canvas.split)
    image = surroundings.wall(rng, canvas, layers.contrasting(rng, metal, 0.1))
    angle = rng.uniform(0, 2 * math.pi)  # where the light comes from
    rect, mask = plate_shape(rng, canvas)
    h = canvas.char_height
    image = layers.cast_shadow(image, mask, -math.cos(angle) * 0.06 * h, -math.sin(angle) * 0.06 * h,
                               0.05 * h, rng.uniform(0.3, 0.6))
    if rng.random() < 0.6:
        plate = textures.brushed(rng, metal, canvas.width, canvas.height)
    else:
        plate = textures.surface(rng, metal, canvas.width, canvas.height, canvas.split, photo_share=0.7)
    image = layers.blend(image, mask, plate)
    step = max(1, int(round(h * rng.uniform(0.03, 0.08))))
    image = layers.relief(image, mask, angle, step, rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7))
    if rng.random() < BORDER_SHARE:
        image = _border(rng, canvas, image, rect, metal, angle)
    if canvas.ink is not None:
        image = _digits(rng, canvas, image, metal, angle)
    if rng.random() < SCREW_SHARE:
        size = max(2.0, h * rng.uniform(0.1, 0.18))
        image = layers.screws(rng, image, rect, size, _screw_layout(rng, rect, size))
    return layers.gloss(rng, image, mask, rng.uniform(0.0, 0.25))


def plate_shape(rng, canvas, margins=MARGINS, shapes=("rounded",)):
    """The plate's rect around the number and its float mask."""
    lo, hi = margins
    rect = canvas.grown(rng.uniform(lo, hi, size=4) * np.array([1, 0.6, 1, 0.6]))
    h = canvas.char_height
    shape = shapes[int(rng.integers(len(shapes)))]
    radius = rng.uniform(0, 0.3) * h if rng.random() < 0.6 else 0.0
    return rect, layers.shape_mask(canvas.width, canvas.height, rect, shape, radius)


def _screw_layout(rng, rect, size):
    """Corners when the plate has room, else at the ends of its long side."""
    width, height = rect[2] - rect[0], rect[3] - rect[1]
    if rng.random() < 0.5 and min(width, height) > 5 * size:
        return "corners"
    return "ends" if height > width else "sides"


def _border(rng, canvas, image, rect, metal, angle):
    h = canvas.char_height
    inset, width = h * rng.uniform(0.08, 0.2), max(1.0, h * rng.uniform(0.03, 0.07))
    outer = (rect[0] + inset, rect[1] + inset, rect[2] - inset, rect[3] - inset)
    inner = (outer[0] + width, outer[1] + width, outer[2] - width, outer[3] - width)
    radius = rng.uniform(0, 0.2) * h
    ring = np.clip(layers.shape_mask(canvas.width, canvas.height, outer, "rounded", radius)
                   - layers.shape_mask(canvas.width, canvas.height, inner, "rounded", max(0, radius - width)), 0, 1)
    image = layers.blend(image, ring, np.clip(metal * rng.uniform(1.0, 1.4), 0, 1))
    return layers.relief(image, ring, angle, max(1, int(width / 2)), 0.5, 0.5)


def _digits(rng, canvas, image, metal, angle):
    alpha, h = canvas.alpha, canvas.char_height
    step = max(1, int(round(h * rng.uniform(0.03, 0.07))))
    if rng.random() < RAISED_SHARE:  # cast digits, often polished brighter than the plate
        face = np.clip(metal * rng.uniform(0.8, 1.6) + rng.normal(0, 0.03, 3), 0, 1).astype(np.float32)
        if abs(layers.luminance(face) - layers.luminance(metal)) < max(0.12, 0.5 * canvas.contrast):
            face = layers.contrasting(rng, metal, max(0.2, canvas.contrast))  # painted or polished digits
        image = layers.blend(image, alpha, face)
        return layers.relief(image, alpha, angle, step, rng.uniform(0.4, 0.8), rng.uniform(0.4, 0.8), raised=True)
    if rng.random() < INFILL_SHARE:
        fill = [np.array([0.92, 0.92, 0.9], np.float32), np.array([0.05, 0.05, 0.05], np.float32),
                np.array([0.8, 0.65, 0.3], np.float32)][int(rng.integers(3))]
        if abs(layers.luminance(fill) - layers.luminance(metal)) < 0.2:
            fill = layers.contrasting(rng, metal, max(canvas.contrast, 0.3))
    else:  # bare cut: the groove is darker than the surface
        fill = np.clip(metal * rng.uniform(0.25, 0.6), 0, 1).astype(np.float32)
    image = layers.blend(image, alpha, fill)
    return layers.relief(image, alpha, angle, step, rng.uniform(0.3, 0.7), rng.uniform(0.4, 0.8), raised=False)
