"""Stick-on vinyl digits on door or window glass: a dark interior seen through the
pane, the street reflected on it, a glare, the door's frame around; flat white, gold
or black digits, sometimes outlined. Frosted glass is held out."""

import numpy as np
from PIL import Image, ImageFilter

from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures
from kerasvhn.data.styles.canvas import Arrangement

NAME = "glass"
WEIGHT = 0.5
DESCRIPTION = "vinyl digits stuck on door glass: dark interior, reflections, glare, frame"
VINYLS = ((0.96, 0.96, 0.95), (0.82, 0.68, 0.3), (0.04, 0.04, 0.05), (0.85, 0.86, 0.88))


def arrange(rng, split):
    return Arrangement(tracking=rng.uniform(0.95, 1.3))


def paint(rng, canvas):
    w, hgt, split = canvas.width, canvas.height, canvas.split
    frosted = split == "held_out" and rng.random() < 0.5
    interior = layers.pick_colour(rng) * (rng.uniform(0.2, 0.5) if not frosted else 1.0)
    if frosted:
        interior = np.clip(0.6 + 0.35 * interior, 0, 1)
    image = textures.surface(rng, interior.astype(np.float32), w, hgt, split, photo_share=0.7)
    image = _soften(image, rng.uniform(1.0, 3.0) * hgt / 64)
    reflection = textures.surface(rng, layers.pick_colour(rng), w, hgt, split, photo_share=0.9)[:, ::-1]
    image = image + rng.uniform(0.1, 0.45) * _soften(reflection, rng.uniform(0.5, 2.0) * hgt / 64)
    image = layers.gloss(rng, image, np.ones((hgt, w), np.float32), rng.uniform(0.1, 0.5))
    if rng.random() < 0.7:
        layers.edges(rng, image, canvas.box_px)  # the door's frame and glazing bars
    if canvas.ink is None:
        return image
    vinyl = np.array(VINYLS[int(rng.integers(len(VINYLS)))], np.float32)
    if abs(layers.luminance(vinyl) - float(np.median(image.mean(axis=2)))) < 0.25:
        vinyl = np.array([0.96, 0.96, 0.95] if np.median(image) < 0.5 else [0.04, 0.04, 0.05], np.float32)
    if rng.random() < 0.2:
        image = layers.blend(image, canvas.ink_alpha(ImageFilter.MaxFilter(5)), layers.contrasting(rng, vinyl, 0.3))
    return layers.blend(image, canvas.alpha, vinyl)


def _soften(image, radius):
    """Out of focus behind or reflected in the glass: a blur of float RGB."""
    if radius < 0.4:
        return image
    pixels = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(pixels, np.float32) / 255.0
