"""What a style paints on (`Canvas`) and what it asks of the number's layout
(`Arrangement`)."""

import numpy as np

from kerasvhn.data import scene_layers as layers


class Arrangement:
    """How a style wants the number laid out and drawn.

    tracking: the advance between characters (None: the usual uneven 0.85 to 1.45;
    more spreads mounted digits apart); vertical: digits stacked top to bottom;
    stencil: cut stencil bridges into the strokes; fonts: "any", "stencil" (prefer
    stencil faces) or "digital" (seven segments or dot matrix, numbers only);
    digital_share: how often "digital" draws a digital face; tabular: every character
    takes the widest digit's advance (fixed-pitch figures), centred in it.
    """

    __slots__ = ("tracking", "vertical", "stencil", "fonts", "digital_share", "tabular")

    def __init__(self, tracking=None, vertical=False, stencil=False, fonts="any", digital_share=0.0, tabular=False):
        self.tracking, self.vertical, self.stencil = tracking, vertical, stencil
        self.fonts, self.digital_share, self.tabular = fonts, digital_share, tabular


class Canvas:
    """The frame a style paints: its size, where the number lies, the number's ink.

    width, height: the frame in pixels; box_px: the union of the characters' boxes
    (x0, y0, x1, y1) in the frame's pixels (a placeholder where no number is drawn);
    char_boxes: one box per drawn character; ink: the laid-out, warped ink (an L PIL
    image, None when nothing is drawn) and view: the part of it the frame shows;
    digit_colour, contrast: the ink's colour and the least luminance difference to
    keep from its ground; split: "train" or "held_out"; faces: the split's font
    families (for clutter); glyphs: the number's face; kind: "frame" or "scene";
    vertical: whether the characters are stacked; char_height: the height of one
    character in pixels (the box's height for a row); ground: None, or the float RGB
    (height, width, 3) surface the number is painted on instead of a wall of the
    style's own (a part of a whole photo: kerasvhn.data.photo_scenes).
    """

    __slots__ = ("width", "height", "box_px", "char_boxes", "ink", "view", "digit_colour", "contrast", "split",
                 "faces", "glyphs", "kind", "vertical", "char_height", "ground", "_alpha")

    def __init__(self, width, height, box_px, char_boxes, ink, view, digit_colour, contrast, split, faces, glyphs,
                 kind, vertical=False, ground=None):
        self.width, self.height, self.box_px, self.char_boxes = width, height, box_px, char_boxes
        self.ink, self.view, self.digit_colour, self.contrast = ink, view, digit_colour, contrast
        self.split, self.faces, self.glyphs, self.kind, self.vertical = split, faces, glyphs, kind, vertical
        self.ground = ground
        self.char_height = self._char_height()
        self._alpha = None

    @property
    def alpha(self):
        """The number's coverage in the frame, float (height, width) in [0, 1]."""
        if self._alpha is None:
            self._alpha = self.ink_alpha()
        return self._alpha

    def ink_alpha(self, ink_filter=None):
        """The ink, optionally filtered first (a PIL filter: a dilation for an outline),
        as the frame's coverage."""
        if self.ink is None:
            return np.zeros((self.height, self.width), np.float32)
        ink = self.ink if ink_filter is None else self.ink.filter(ink_filter)
        return layers.resample(ink, self.view, self.width, self.height)

    def _char_height(self):
        """The height of one character in pixels (the box's height for a row)."""
        if self.char_boxes:
            if not self.vertical:
                return float(self.box_px[3] - self.box_px[1])
            return float(np.median([b[3] - b[1] for b in self.char_boxes]))
        return float(self.box_px[3] - self.box_px[1]) / (3 if self.vertical else 1)

    def grown(self, margins):
        """box_px grown by (left, top, right, bottom) multiples of the character height."""
        h = self.char_height
        x0, y0, x1, y1 = self.box_px
        return (x0 - margins[0] * h, y0 - margins[1] * h, x1 + margins[2] * h, y1 + margins[3] * h)

    def empty(self):
        return np.zeros((self.height, self.width, 3), np.float32)
