"""Numbers stacked top to bottom, each digit upright, read top first: on narrow strip
plates (dark metal or enamel with light digits), or as digits mounted down a post,
a pillar or a door frame. The label is the number read from the top."""

from kerasvhn.data.styles import enamel, metal_plate, mounted
from kerasvhn.data.styles.canvas import Arrangement

NAME = "vertical"
WEIGHT = 0.5
DESCRIPTION = "digits stacked top to bottom on narrow strip plates or down a post (label read top first)"
PAINTERS = ((metal_plate, 0.45), (enamel, 0.2), (mounted, 0.35))


def arrange(rng, split):
    return Arrangement(vertical=True, tracking=1.0 + rng.uniform(0.05, 0.45))


def paint(rng, canvas):
    u, total = rng.random(), 0.0
    for module, share in PAINTERS:
        total += share
        if u < total:
            return module.paint(rng, canvas)
    return PAINTERS[-1][0].paint(rng, canvas)
