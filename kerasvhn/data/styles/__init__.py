"""The kinds of house numbers the generator draws, each a renderer with its own
parameters (module constants) and a default weight in the mixture.

A style is a module with NAME, WEIGHT (its default weight), DESCRIPTION (what it
imitates), `arrange(rng, split)` (an Arrangement: how it wants the number laid
out: spacing, vertical, stencil bridges, fonts) and `paint(rng, canvas)` (the frame
as float RGB in [0, 1], number included). The mixture is a dict of weights:
`check_styles` turns what a user passes (None, a name, a list of names or a dict of
weights overriding the defaults; weight 0 switches a style off) into the weights
used, and `pick` draws one style with a single uniform draw.

Default weights, chosen by reason (no real photo was scored to set them): the
street-view look SVHN is made of stays the largest share (classic 3); the plaques,
plates and mounted digits that most door photos show next (metal_plate 1.5,
mounted 1.5, enamel 1); then kinds that are common but narrower (sign 0.75, tile,
glass, stencil, lightbox and vertical 0.5 each).

>>> from kerasvhn.data.styles import check_styles, STYLES
>>> sorted(STYLES)[:3]
['classic', 'enamel', 'glass']
>>> check_styles("metal_plate")
{'metal_plate': 1.0}
>>> check_styles({"classic": 0})["classic"]
0.0
"""

from kerasvhn.data.styles import (classic, enamel, glass, lightbox, metal_plate, mounted, sign, stencil, tile,
                                  vertical)
from kerasvhn.data.styles.canvas import Arrangement, Canvas

__all__ = ["Arrangement", "Canvas", "STYLES", "DEFAULT_WEIGHTS", "check_styles", "pick"]

STYLES = {module.NAME: module for module in (classic, metal_plate, enamel, tile, mounted, glass, stencil, lightbox,
                                             vertical, sign)}
DEFAULT_WEIGHTS = {name: float(module.WEIGHT) for name, module in STYLES.items()}


def check_styles(styles=None):
    """The mixture's weights {name: weight} from None (the defaults), a style's name
    (that style only), a list of names (those, with their default weights) or a dict
    of weights that override the defaults (0 switches a style off)."""
    if styles is None:
        return dict(DEFAULT_WEIGHTS)
    if isinstance(styles, str):
        styles = [styles]
    if isinstance(styles, dict):
        weights = dict(DEFAULT_WEIGHTS)
        for name, weight in styles.items():
            _check_name(name)
            if not isinstance(weight, (int, float)) or weight < 0:
                raise ValueError(f"style weights must be numbers >= 0, got {name}={weight!r}")
            weights[name] = float(weight)
    else:
        names = list(styles)
        for name in names:
            _check_name(name)
        weights = {name: (DEFAULT_WEIGHTS[name] if len(names) > 1 else 1.0) for name in names}
    if not sum(weights.values()) > 0:
        raise ValueError("style weights must not all be 0")
    return weights


def _check_name(name):
    if name not in STYLES:
        raise ValueError(f"styles must be among {tuple(STYLES)}, got {name!r}")


def pick(rng, weights):
    """One style's name, drawn with probability proportional to its weight (one
    uniform draw, whatever the weights)."""
    u = rng.random() * sum(weights.values())
    total = 0.0
    chosen = None
    for name, weight in weights.items():
        if weight <= 0:
            continue
        chosen = name
        total += weight
        if u < total:
            break
    return chosen
