"""Vitreous enamel plaques: a glossy, slightly domed plate, mostly blue, green, red,
black or white, with white digits (dark ones on a white plate) and a painted border
line inside its edge; rounded rectangles and ovals (arched tops held out), sometimes
chipped, screwed to the wall."""

import numpy as np

from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures
from kerasvhn.data.styles import metal_plate, surroundings
from kerasvhn.data.styles.canvas import Arrangement

NAME = "enamel"
WEIGHT = 1.0
DESCRIPTION = "glossy enamel plaques with a border line, rounded or oval, white digits on blue and the like"
GROUNDS = ((0.06, 0.2, 0.55), (0.04, 0.12, 0.32), (0.08, 0.35, 0.2), (0.6, 0.08, 0.08), (0.05, 0.05, 0.06),
           (0.93, 0.93, 0.9), (0.35, 0.08, 0.12))
SHAPES = {"train": ("rounded", "rounded", "oval"), "held_out": ("arched", "oval")}
BORDER_SHARE, CHIP_SHARE, SCREW_SHARE = 0.75, 0.25, 0.5


def arrange(rng, split):
    return Arrangement()


def paint(rng, canvas):
    ground = np.clip(np.array(GROUNDS[int(rng.integers(len(GROUNDS)))]) + rng.normal(0, 0.04, 3), 0, 1)
    ground = ground.astype(np.float32)
    light_ground = layers.luminance(ground) > 0.5
    ink = np.array([0.08, 0.1, 0.2] if light_ground else [0.95, 0.95, 0.93], np.float32)
    image = surroundings.wall(rng, canvas, layers.pick_colour(rng))
    shapes = SHAPES["held_out" if canvas.split == "held_out" else "train"]
    oval_room = (0.35, 0.9)
    rect, mask = metal_plate.plate_shape(rng, canvas, oval_room, shapes)
    h = canvas.char_height
    image = layers.cast_shadow(image, mask, 0.04 * h, 0.05 * h, 0.06 * h, rng.uniform(0.2, 0.5))
    plate = ground + rng.uniform(0.05, 0.2) * textures.ramp(rng, canvas.width, canvas.height)
    image = layers.blend(image, mask, plate)
    if rng.random() < BORDER_SHARE:
        image = _border(rng, canvas, image, rect, ink)
    if canvas.ink is not None:
        image = layers.blend(image, canvas.alpha, ink * rng.uniform(0.9, 1.0))
    if rng.random() < CHIP_SHARE:
        image = _chips(rng, canvas, image, mask)
    if rng.random() < SCREW_SHARE:
        image = layers.screws(rng, image, rect, max(2.0, 0.1 * h), "ends" if rect[3] - rect[1] > rect[2] - rect[0]
                              else "sides", colour=ink * 0.8)
    return layers.gloss(rng, image, mask, rng.uniform(0.15, 0.5))


def _border(rng, canvas, image, rect, ink):
    """A painted line inside the plate's edge, following its shape."""
    h = canvas.char_height
    inset, width = h * rng.uniform(0.08, 0.18), max(1.0, h * rng.uniform(0.04, 0.08))
    outer = (rect[0] + inset, rect[1] + inset, rect[2] - inset, rect[3] - inset)
    inner = (outer[0] + width, outer[1] + width, outer[2] - width, outer[3] - width)
    shape = "oval" if rng.random() < 0.3 else "rounded"
    radius = rng.uniform(0.1, 0.3) * h
    ring = np.clip(layers.shape_mask(canvas.width, canvas.height, outer, shape, radius)
                   - layers.shape_mask(canvas.width, canvas.height, inner, shape, max(0.0, radius - width)), 0, 1)
    return layers.blend(image, ring, ink)


def _chips(rng, canvas, image, mask):
    """Chipped enamel near the edge: dark iron showing through in small blotches."""
    spots = textures.smooth_noise(rng, canvas.width, canvas.height, 12)[..., 0]
    edge = np.clip(mask * (1 - mask) * 4, 0, 1)
    chips = np.clip((spots - rng.uniform(0.5, 0.8)) * 6, 0, 1) * np.maximum(edge, mask * 0.15)
    return layers.blend(image, chips, np.array([0.12, 0.1, 0.09], np.float32))
