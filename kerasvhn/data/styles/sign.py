"""Building-number signs and name plates: the number on a panel beside other text, a
building or department name on a coloured strip below it, or words after the number
on the same plate ("61 THE NOOK"); the label is the number alone."""

import numpy as np

from kerasvhn.data import scene_layers as layers
from kerasvhn.data.glyphs import LETTERS
from kerasvhn.data.styles import surroundings
from kerasvhn.data.styles.canvas import Arrangement

NAME = "sign"
WEIGHT = 0.75
DESCRIPTION = "building-number signs: a number panel beside a strip of words, or words after the number"
PANELS = ((0.08, 0.1, 0.14), (0.05, 0.05, 0.05), (0.95, 0.95, 0.93), (0.1, 0.2, 0.45))
STRIPS = ((0.85, 0.55, 0.1), (0.9, 0.75, 0.1), (0.15, 0.35, 0.6), (0.6, 0.1, 0.15), (0.9, 0.9, 0.88))
STRIP_SHARE = 0.55  # a strip of words below; otherwise words after the number


def arrange(rng, split):
    return Arrangement()


def paint(rng, canvas):
    panel = np.array(PANELS[int(rng.integers(len(PANELS)))], np.float32) + rng.normal(0, 0.03, 3).astype(np.float32)
    ink = layers.contrasting(rng, panel, 0.45)
    image = surroundings.wall(rng, canvas, layers.pick_colour(rng), edge_share=0.2)
    h = canvas.char_height
    words_after = None
    if rng.random() < STRIP_SHARE:
        rect = canvas.grown(rng.uniform(0.15, 0.5, size=4))
        image = _strip(rng, canvas, image, rect)
    else:  # a long plate: the number, then words
        rect = canvas.grown((rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.4), rng.uniform(2, 5), rng.uniform(0.15, 0.4)))
        words_after = (canvas.box_px[2] + rng.uniform(0.3, 0.7) * h, canvas.box_px[1] + rng.uniform(0.1, 0.4) * h)
    plate = layers.shape_mask(canvas.width, canvas.height, rect, "rounded", rng.uniform(0, 0.2) * h, 1)
    image = layers.blend(image, plate, panel)
    if canvas.ink is not None:
        image = layers.blend(image, canvas.alpha, ink)
    if words_after is not None:
        _words(rng, canvas, image, words_after[0], words_after[1], rng.uniform(0.35, 0.7) * h, ink)
    return image


def _strip(rng, canvas, image, rect):
    """A coloured strip of words below the number's panel."""
    h = canvas.char_height
    strip_h = rng.uniform(0.35, 0.7) * h
    strip = (rect[0], rect[3] + rng.uniform(0, 0.15) * h, rect[0] + rng.uniform(1.5, 4) * (rect[2] - rect[0]),
             rect[3] + strip_h)
    colour = np.array(STRIPS[int(rng.integers(len(STRIPS)))], np.float32)
    image = layers.blend(image, layers.shape_mask(canvas.width, canvas.height, strip, supersample=1), colour)
    _words(rng, canvas, image, strip[0] + 0.2 * strip_h, strip[1] + 0.25 * strip_h, 0.5 * strip_h,
           layers.contrasting(rng, colour, 0.4))
    return image


def _words(rng, canvas, image, x, y, height_px, colour):
    """One to three words of capitals (never digits) starting at (x, y)."""
    glyphs = canvas.faces[int(rng.integers(len(canvas.faces)))][0]
    letters = [c for c in LETTERS if c.isalpha()]
    for _ in range(int(rng.integers(1, 4))):
        word = "".join(rng.choice(letters, size=int(rng.integers(2, 8))))
        layers.paste_text(rng, image, glyphs, word, x, y, height_px, colour)
        x += (len(word) * 0.75 + 0.6) * height_px
