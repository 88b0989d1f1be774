"""Individual cut or cast digits mounted on the wall itself, no plate: metal, plastic
or wood digits spaced apart on brick, siding, render or wood, standing off the wall
so that each casts a soft shadow, their thickness showing on one side."""

import math

import numpy as np

from kerasvhn.data import scene_layers as layers
from kerasvhn.data.styles import surroundings
from kerasvhn.data.styles.canvas import Arrangement

NAME = "mounted"
WEIGHT = 1.5
DESCRIPTION = "cut or cast digits spaced apart on brick, siding, render or wood, casting shadows"
#: Digit materials (RGB): matte black, brushed steel, brass, white, bronze, red.
MATERIALS = ((0.06, 0.06, 0.06), (0.62, 0.63, 0.65), (0.72, 0.57, 0.26), (0.93, 0.93, 0.92),
             (0.35, 0.25, 0.15), (0.55, 0.1, 0.08))
WALLS = ("brick", "siding", "grain", "plain", "stone")  # stone: held out (textures.WALLS)
SPACING = (1.1, 2.0)  # the advance between digits, in multiples of their own


def arrange(rng, split):
    return Arrangement(tracking=rng.uniform(*SPACING))


def paint(rng, canvas):
    material = np.array(MATERIALS[int(rng.integers(len(MATERIALS)))], np.float32) + \
        rng.normal(0, 0.03, 3).astype(np.float32)
    wall_colour = layers.contrasting(rng, material, max(0.2, canvas.contrast))
    image = surroundings.wall(rng, canvas, wall_colour, photo_share=0.35, kinds=WALLS)
    surroundings.clutter(rng, canvas, image, wall_colour, text_share=0.15, partial_share=0.15)
    if canvas.ink is not None:
        image = mount(rng, canvas, image, canvas.alpha, material)
    return image


def mount(rng, canvas, image, alpha, material):
    """Digits standing off the wall: a soft shadow, the side of their thickness, their
    face lit from the light's side."""
    h = canvas.char_height
    angle = rng.uniform(math.pi / 6, 5 * math.pi / 6) * (1 if rng.random() < 0.85 else -1)  # mostly from above
    distance = rng.uniform(0.03, 0.14) * h
    image = layers.cast_shadow(image, alpha, -math.cos(angle) * distance, -math.sin(angle) * distance,
                               rng.uniform(0.02, 0.1) * h, rng.uniform(0.3, 0.75))
    depth = int(round(rng.uniform(0.0, 0.05) * h))
    if depth:  # the digits' sides, seen away from the light
        side = np.clip(material * rng.uniform(0.4, 0.7), 0, 1)
        sides = np.zeros_like(alpha)
        for k in range(1, depth + 1):
            np.maximum(sides, layers.shift(alpha, -round(math.cos(angle) * k), -round(math.sin(angle) * k)), out=sides)
        image = layers.blend(image, sides, side)
    image = layers.blend(image, alpha, material)
    step = max(1, int(round(h * 0.03)))
    return layers.relief(image, alpha, angle, step, rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.4))
