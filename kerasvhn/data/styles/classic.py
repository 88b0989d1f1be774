"""The street-view look SVHN is made of: digits painted, printed or mounted flat on a
wall, a door or a simple plate; flat, outlined, with a drop shadow, embossed or
engraved (lit from the top left)."""

import numpy as np
from PIL import ImageFilter

from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures
from kerasvhn.data.styles import surroundings
from kerasvhn.data.styles.canvas import Arrangement

NAME = "classic"
WEIGHT = 3.0
DESCRIPTION = "digits flat on a wall, door or simple plate: painted, outlined, shadowed, embossed or engraved"
PLATE_SHARE = 0.45  # on a plate rather than on the wall itself
OUTLINE_SHARE, SHADOW_SHARE = 0.12, 0.15
RELIEF_SHARE = 0.25  # embossed or engraved (three fifths embossed)


def arrange(rng, split):
    return Arrangement()


def paint(rng, canvas):
    on_plate = rng.random() < PLATE_SHARE
    base = layers.contrasting(rng, canvas.digit_colour, canvas.contrast)
    image = surroundings.wall(rng, canvas, layers.pick_colour(rng) if on_plate else base)
    if on_plate:
        base = layers.plate(rng, image, canvas.box_px, canvas.digit_colour, canvas.contrast, canvas.split)
    surroundings.clutter(rng, canvas, image, base)
    if canvas.ink is not None:
        image = _digits(rng, canvas, image, base)
    return image


def _digits(rng, canvas, image, base):
    alpha, colour, h = canvas.alpha, canvas.digit_colour, canvas.char_height
    style = rng.random()
    if style < OUTLINE_SHARE:
        wide = canvas.ink_alpha(ImageFilter.MaxFilter(int(rng.choice([5, 7]))))
        image = layers.blend(image, wide, layers.contrasting(rng, colour, 0.25))
    elif style < OUTLINE_SHARE + SHADOW_SHARE:
        dx, dy = rng.uniform(0.03, 0.1, size=2) * h * rng.choice([-1, 1], size=2)
        shadow = layers.shift(alpha, round(dx), round(dy))
        image = layers.blend(image, shadow * rng.uniform(0.4, 0.9), base * rng.uniform(0.1, 0.5))
    paint = colour + rng.uniform(0, 0.15) * textures.ramp(rng, canvas.width, canvas.height)
    image = layers.blend(image, alpha, paint)
    if style > 1 - RELIEF_SHARE:
        step = max(1, int(round(h * rng.uniform(0.03, 0.07))))
        raised = style < 1 - 0.4 * RELIEF_SHARE
        image = layers.relief(image, alpha, np.pi / 4, step, rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), raised)
    return image
