"""Backlit house-number boxes and illuminated signs at dusk: a glowing translucent
panel in a dark housing with dark digits on it, or glowing white digits on a blue or
black panel with a light border line, light bleeding around them; the wall around
darker. Some boxes show seven-segment or dot-matrix digits."""

import numpy as np

from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures
from kerasvhn.data.styles import metal_plate, surroundings
from kerasvhn.data.styles.canvas import Arrangement

NAME = "lightbox"
WEIGHT = 0.5
DESCRIPTION = "backlit boxes and illuminated signs: glowing panel or glowing digits, dark housing, dusk"
PANELS = ((0.97, 0.96, 0.9), (1.0, 0.92, 0.7), (0.9, 0.95, 1.0))  # lit panels, dark digits
DARK_PANELS = ((0.05, 0.18, 0.6), (0.03, 0.03, 0.05), (0.05, 0.3, 0.15), (0.55, 0.05, 0.05))
GLOWING_DIGITS_SHARE = 0.45
DIGITAL_SHARE = 0.25  # seven segments (training) or dot matrix (held out)


def arrange(rng, split):
    return Arrangement(fonts="digital", digital_share=DIGITAL_SHARE)


def paint(rng, canvas):
    dusk = rng.uniform(0.25, 0.8)
    image = surroundings.wall(rng, canvas, layers.pick_colour(rng)) * dusk
    rect, panel_mask = metal_plate.plate_shape(rng, canvas, (0.25, 0.7))
    h = canvas.char_height
    frame = max(1.0, rng.uniform(0.05, 0.18) * h)
    outer = (rect[0] - frame, rect[1] - frame, rect[2] + frame, rect[3] + frame)
    housing = layers.shape_mask(canvas.width, canvas.height, outer, "rounded", rng.uniform(0, 0.15) * h, 1)
    image = layers.blend(image, housing, np.full(3, rng.uniform(0.03, 0.3), np.float32))
    glowing = rng.random() < GLOWING_DIGITS_SHARE
    if glowing:
        image = _glowing_digits(rng, canvas, image, rect, panel_mask)
    else:
        image = _lit_panel(rng, canvas, image, panel_mask)
    return image


def _lit_panel(rng, canvas, image, panel_mask):
    panel = np.array(PANELS[int(rng.integers(len(PANELS)))], np.float32)
    centre = 1 - 0.3 * np.abs(textures.ramp(rng, canvas.width, canvas.height))
    image = layers.blend(image, panel_mask, panel * centre)
    image = image + layers.glow(panel_mask, 0.2 * canvas.char_height, 0.25)[..., None] * panel
    if canvas.ink is not None:
        ink = layers.contrasting(rng, panel, 0.5) * rng.uniform(0.3, 0.9)
        image = layers.blend(image, canvas.alpha, ink)
    return image


def _glowing_digits(rng, canvas, image, rect, panel_mask):
    panel = np.array(DARK_PANELS[int(rng.integers(len(DARK_PANELS)))], np.float32) * rng.uniform(0.7, 1.3)
    image = layers.blend(image, panel_mask, np.clip(panel, 0, 1))
    light = np.array([1.0, 1.0, 0.97], np.float32) * rng.uniform(0.85, 1.0)
    h = canvas.char_height
    if rng.random() < 0.6:  # a light border line inside the panel (as on many lit street signs)
        inset, width = rng.uniform(0.06, 0.15) * h, max(1.0, rng.uniform(0.04, 0.08) * h)
        outer = (rect[0] + inset, rect[1] + inset, rect[2] - inset, rect[3] - inset)
        inner = (outer[0] + width, outer[1] + width, outer[2] - width, outer[3] - width)
        ring = np.clip(layers.shape_mask(canvas.width, canvas.height, outer, supersample=1)
                       - layers.shape_mask(canvas.width, canvas.height, inner, supersample=1), 0, 1)
        image = layers.blend(image, ring, light)
    if canvas.ink is not None:
        alpha = canvas.alpha
        image = image + layers.glow(alpha, rng.uniform(0.05, 0.2) * h, rng.uniform(0.2, 0.6))[..., None] * light
        image = layers.blend(image, alpha, light)
    return image
