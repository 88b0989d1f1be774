"""What lies around a house number in every style: the wall, door and window edges,
smaller text, a neighbouring digit cut by the crop."""

from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures


def wall(rng, canvas, colour, photo_share=0.5, kinds=None, edge_share=0.3):
    """The wall (procedural kinds or a photograph) with, edge_share of the time, door
    and window edges; a copy of canvas.ground when it has one (no random draw)."""
    if canvas.ground is not None:
        return canvas.ground.copy()
    image = textures.surface(rng, colour, canvas.width, canvas.height, canvas.split, photo_share, kinds)
    if rng.random() < edge_share:
        layers.edges(rng, image, canvas.box_px)
    return image


def clutter(rng, canvas, image, ground, text_share=0.3, partial_share=0.2):
    """Smaller text near the number (text_share of the time) and, in model frames, a
    neighbouring digit cut by the frame's edge (partial_share)."""
    if rng.random() < text_share:
        layers.clutter_text(rng, image, canvas.faces, canvas.box_px, layers.contrasting(rng, ground, 0.2))
    if canvas.kind == "frame" and not canvas.vertical and rng.random() < partial_share:
        layers.partial_digit(rng, image, canvas.glyphs, canvas.box_px, canvas.char_height, canvas.digit_colour)
