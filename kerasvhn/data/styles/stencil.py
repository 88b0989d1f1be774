"""Stencilled paint: numbers sprayed or brushed through a stencil onto a wall or a
curb (often on a painted rectangle), with the stencil's bridges cutting the strokes,
soft overspray edges and worn, patchy paint."""

import numpy as np
from PIL import Image, ImageFilter

from kerasvhn.data import fonts
from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures
from kerasvhn.data.styles import surroundings
from kerasvhn.data.styles.canvas import Arrangement

NAME = "stencil"
WEIGHT = 0.5
DESCRIPTION = "stencilled spray paint on walls and curbs: bridges, overspray, wear"
CURB_SHARE = 0.5  # on a curb (concrete, a painted rectangle behind) rather than a wall
STENCIL_FONT_SHARE = 0.4  # drawn in a stencil face rather than any face with cut bridges


def arrange(rng, split):
    held = split == "held_out"
    available = any((family in fonts.HELD_OUT_FAMILIES) == held for family in fonts.STENCIL_FAMILIES)
    stencil_face = rng.random() < STENCIL_FONT_SHARE and available
    return Arrangement(stencil=not stencil_face, fonts="stencil" if stencil_face else "any")


def paint(rng, canvas):
    paint_colour = canvas.digit_colour
    if rng.random() < CURB_SHARE:
        concrete = np.full(3, rng.uniform(0.45, 0.8), np.float32) + rng.normal(0, 0.03, 3).astype(np.float32)
        image = surroundings.wall(rng, canvas, concrete, photo_share=0.3, kinds=("grain",), edge_share=0.5)
        ground = layers.contrasting(rng, paint_colour, max(0.35, canvas.contrast))
        rect = canvas.grown(rng.uniform(0.1, 0.5, size=4))
        patch = layers.shape_mask(canvas.width, canvas.height, rect, supersample=1)
        image = layers.blend(image, patch * rng.uniform(0.75, 1.0) * _wear(rng, canvas, 0.3), ground)
    else:
        ground = layers.contrasting(rng, paint_colour, canvas.contrast)
        image = surroundings.wall(rng, canvas, ground)
        surroundings.clutter(rng, canvas, image, ground, text_share=0.15)
    if canvas.ink is None:
        return image
    h = canvas.char_height
    alpha = canvas.alpha
    soft = Image.fromarray((alpha * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 0.06 * h)))
    alpha = np.asarray(soft, np.float32) / 255.0
    overspray = layers.glow(alpha, rng.uniform(0.05, 0.15) * h, rng.uniform(0.0, 0.35))
    image = layers.blend(image, overspray, paint_colour)
    return layers.blend(image, alpha * _wear(rng, canvas, rng.uniform(0.0, 0.5)), paint_colour)


def _wear(rng, canvas, amount):
    """Paint worn off in patches: a (height, width) factor in [1 - amount, 1]."""
    noise = textures.smooth_noise(rng, canvas.width, canvas.height, int(rng.integers(6, 16)))[..., 0]
    return 1 - amount * np.clip(noise * 2, 0, 1)
