"""Digits and letters as ink: rasterised glyphs, strings laid out with uneven spacing,
deformed (stroke weight, condensing, shear, rotation, perspective), and one tight box
per character.

A laid-out string is two maps of the same size: its ink (uint8 coverage) and its
owner map (the index + 1 of the character each pixel belongs to), deformed together
so that each character's box can be read off after any deformation.
"""

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from kerasvhn.data import fonts

#: Characters of clutter and of the images without a number.
LETTERS = "ABCDEFGHKLMNPRSTUVWXYZ#&"
GLYPH_PIXELS = 48  # font size at which glyphs are rasterised
MARGIN = 10  # blank pixels around a laid-out string (room for dilation)


class Glyph:
    __slots__ = ("mask", "left", "top", "advance")

    def __init__(self, mask, left, top, advance):
        self.mask, self.left, self.top, self.advance = mask, left, top, advance


@functools.lru_cache(maxsize=None)
def font_glyphs(path, variation=None):
    """{character: Glyph} for the digits and letters of one font file (None if unusable);
    variation: the named instance of a variable font ("Light", "Bold"), or None."""
    font = ImageFont.truetype(path, GLYPH_PIXELS)
    if variation is not None:
        font.set_variation_by_name(variation)
    glyphs = {}
    for char in "0123456789" + LETTERS:
        left, top, right, bottom = font.getbbox(char)
        if right <= left or bottom <= top:
            continue
        image = Image.new("L", (right - left, bottom - top), 0)
        ImageDraw.Draw(image).text((-left, -top), char, font=font, fill=255)
        glyphs[char] = Glyph(np.asarray(image), left, top, font.getlength(char))
    return glyphs if all(d in glyphs for d in "0123456789") else None


@functools.lru_cache(maxsize=None)
def _usable(split):
    """(family name, its usable faces' glyph tables) of one split."""
    usable = []
    for name, paths in fonts.font_families(split).items():
        tables = [t for t in (font_glyphs(*p) for p in paths) if t is not None]
        if tables:
            usable.append((name, tuple(tables)))
    return tuple(usable)


@functools.lru_cache(maxsize=None)
def faces(split):
    """Per family, the usable faces' glyph tables, for one split."""
    return tuple(tables for _, tables in _usable(split))


@functools.lru_cache(maxsize=None)
def family_names(split):
    """The names of faces(split)'s families, in the same order."""
    return tuple(name for name, _ in _usable(split))


def font_paths(split="all"):
    """The font files numbers are drawn in (see kerasvhn.data.fonts)."""
    return [p for faces in fonts.font_families(split).values() for p, _ in faces]


# ----------------------------------------------------------------------------- drawn digits
# Digits-only faces drawn here (no font file): seven-segment displays and dot-matrix
# signs. They hold no letters, so they only ever draw numbers.

#: Which of the segments a (top), b, c (right, top to bottom), d (bottom), e, f (left,
#: bottom to top) and g (middle) each digit lights.
SEGMENTS = {"0": "abcdef", "1": "bc", "2": "abged", "3": "abgcd", "4": "fgbc", "5": "afgcd",
            "6": "afgedc", "7": "abc", "8": "abcdefg", "9": "abcdfg"}
#: 5x7 dot-matrix digits, one string of 5 columns per row, top to bottom.
DOTS = {
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
}
_DRAWN_HEIGHT, _DRAWN_TOP, _SUPER = 36, 10, 4  # digit height and top at GLYPH_PIXELS; supersampling


def _segment_polygons(width, height, thick):
    """The seven segments of a width x height cell as hexagons (pixel coordinates)."""
    t, h2 = thick, height / 2
    gap = 0.12 * thick

    def horizontal(y):
        x0, x1 = gap, width - gap
        return [(x0, y), (x0 + t / 2, y - t / 2), (x1 - t / 2, y - t / 2), (x1, y), (x1 - t / 2, y + t / 2),
                (x0 + t / 2, y + t / 2)]

    def vertical(x, y0, y1):
        y0, y1 = y0 + gap, y1 - gap
        return [(x, y0), (x + t / 2, y0 + t / 2), (x + t / 2, y1 - t / 2), (x, y1), (x - t / 2, y1 - t / 2),
                (x - t / 2, y0 + t / 2)]

    left, right = t / 2, width - t / 2
    return {"a": horizontal(t / 2), "g": horizontal(h2), "d": horizontal(height - t / 2),
            "f": vertical(left, t / 2, h2), "b": vertical(right, t / 2, h2),
            "e": vertical(left, h2, height - t / 2), "c": vertical(right, h2, height - t / 2)}


def _drawn_glyph(draw_on, width, slant):
    """A Glyph from a function that draws a digit on a supersampled L image."""
    h = _DRAWN_HEIGHT
    pad = int(abs(slant) * h) + 2
    big = Image.new("L", ((width + pad) * _SUPER, h * _SUPER), 0)
    draw_on(ImageDraw.Draw(big), _SUPER)
    if slant:  # lean right: shift rows by slant x their height above the baseline
        big = big.transform(big.size, Image.AFFINE, (1, slant, -slant * big.size[1], 0, 1, 0), Image.BILINEAR)
    mask = np.asarray(big.resize((width + pad, h), Image.BOX))
    cols = np.nonzero(mask.max(axis=0) > 0)[0]
    mask = np.ascontiguousarray(mask[:, cols.min() : cols.max() + 1])
    return Glyph(mask, 1, _DRAWN_TOP, mask.shape[1] + 0.25 * h)


@functools.lru_cache(maxsize=None)
def seven_segment_glyphs(thickness=0.16, slant=0.0):
    """{digit: Glyph} of a seven-segment display (thickness: of the segments, as a share
    of the digit's height; slant: lean to the right, as most displays do)."""
    h = _DRAWN_HEIGHT
    width = int(0.55 * h)
    cells = _segment_polygons(width * _SUPER, h * _SUPER, thickness * h * _SUPER)

    def digit(char):
        def draw(canvas, s):
            for segment in SEGMENTS[char]:
                canvas.polygon(cells[segment], fill=255)
        return draw

    return {char: _drawn_glyph(digit(char), width, slant) for char in SEGMENTS}


@functools.lru_cache(maxsize=None)
def dot_matrix_glyphs(round_dots=True, dot=0.8):
    """{digit: Glyph} of a 5x7 dot-matrix sign (dot: the dot's diameter as a share of
    the pitch)."""
    h = _DRAWN_HEIGHT
    pitch = h / 7
    width = int(round(5 * pitch))

    def digit(char):
        def draw(canvas, s):
            r = dot * pitch * s / 2
            for row, bits in enumerate(DOTS[char]):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        cx, cy = (col + 0.5) * pitch * s, (row + 0.5) * pitch * s
                        shape = canvas.ellipse if round_dots else canvas.rectangle
                        shape((cx - r, cy - r, cx + r, cy + r), fill=255)
        return draw

    return {char: _drawn_glyph(digit(char), width, 0.0) for char in DOTS}


def drawn_faces(split):
    """The digits-only faces of a split: (name, glyph table) pairs. Seven segments for
    training, dot matrix held out."""
    if split == "held_out":
        return (("Dot Matrix", dot_matrix_glyphs(True, 0.85)), ("Dot Matrix", dot_matrix_glyphs(False, 0.7)))
    return (("Seven Segment", seven_segment_glyphs(0.16, 0.0)), ("Seven Segment", seven_segment_glyphs(0.2, 0.1)),
            ("Seven Segment", seven_segment_glyphs(0.12, 0.08)))


# ----------------------------------------------------------------------------- text


def number_text(rng, length):
    if length == 0:
        return ""
    # First digit: 1-9, more often small (house numbers are Benford-like), rarely 0.
    weights = np.array([0.04] + [np.log10(1 + 1 / d) + 0.05 for d in range(1, 10)])
    first = rng.choice(10, p=weights / weights.sum())
    rest = rng.integers(0, 10, size=length - 1)
    return "".join(str(d) for d in (first, *rest))


def layout(rng, glyphs, text, tracking=None, vertical=False, tabular=False):
    """The string's ink (uint8) and owner map (character index + 1, uint8).

    tracking: the advance between characters as a multiple of each one's own
    (random, 0.85 to 1.45, when None); vertical: stack the characters top to
    bottom, each centred, the first on top (the reading order); tabular: every
    character takes the widest digit's advance, centred in it, as fixed-pitch
    figures do (a "1" then stands apart from its neighbours).
    """
    if vertical:
        placed = _stack(rng, glyphs, text, tracking)
    else:
        placed = _row(rng, glyphs, text, tracking, tabular)
    x0 = min(p[1] for p in placed)
    y0 = min(p[2] for p in placed)
    width = int(max(p[1] + p[0].mask.shape[1] for p in placed) - x0) + 2 * MARGIN + 1
    height = int(max(p[2] + p[0].mask.shape[0] for p in placed) - y0) + 2 * MARGIN + 1
    ink = np.zeros((height, width), np.uint8)
    owner = np.zeros((height, width), np.uint8)
    for k, (glyph, gx, gy) in enumerate(placed):
        top, left = int(round(gy - y0)) + MARGIN, int(round(gx - x0)) + MARGIN
        h, w = glyph.mask.shape
        np.maximum(ink[top : top + h, left : left + w], glyph.mask, out=ink[top : top + h, left : left + w])
        owner[top : top + h, left : left + w][glyph.mask > 16] = k + 1
    return ink, owner


def _row(rng, glyphs, text, tracking, tabular=False):
    """(glyph, x, y) of each character along a baseline, spacing uneven."""
    tracking = rng.uniform(0.85, 1.45) if tracking is None else tracking
    cell = max(glyphs[d].advance for d in "0123456789") if tabular else None
    placed, x = [], 0.0
    for char in text:
        glyph = glyphs.get(char) or glyphs["0"]
        advance = glyph.advance if cell is None else cell
        y = rng.normal(0, 0.03 * GLYPH_PIXELS)
        placed.append((glyph, x + (advance - glyph.advance) / 2 + glyph.left, y + glyph.top))
        gap = tracking + rng.normal(0, 0.08) + (rng.uniform(0.2, 0.8) if rng.random() < 0.05 else 0)
        x += advance * max(gap, 0.8)
    return placed


def _stack(rng, glyphs, text, tracking):
    """(glyph, x, y) of each character stacked top to bottom, centred on one axis."""
    gap = rng.uniform(0.08, 0.45) if tracking is None else tracking - 1.0
    placed, y = [], 0.0
    for char in text:
        glyph = glyphs.get(char) or glyphs["0"]
        h, w = glyph.mask.shape
        placed.append((glyph, -w / 2 + rng.normal(0, 0.02 * GLYPH_PIXELS), y))
        y += h * (1 + max(gap + rng.normal(0, 0.03), 0.05))
    return placed


def stencil_gaps(rng, ink):
    """Cuts the bridges of a stencil into laid-out ink: one or two thin horizontal
    gaps across every character (the paper of a stencil must hold together)."""
    rows = np.nonzero(ink.max(axis=1) > 64)[0]
    if rows.size < 8:
        return ink
    top, bottom = rows.min(), rows.max()
    height = bottom - top
    out = ink.copy()
    centres = [0.5] if rng.random() < 0.6 else [0.3, 0.7]
    thick = max(1, int(round(height * rng.uniform(0.06, 0.11))))
    for centre in centres:
        y = top + int(round(height * (centre + rng.normal(0, 0.03))))
        out[y - thick // 2 : y - thick // 2 + thick] = 0
    return out


def warp(rng, ink, owner):
    """Stroke weight, condensing, shear, rotation and perspective, applied to both maps."""
    ink_image, owner_image = Image.fromarray(ink), Image.fromarray(owner)
    weight = rng.random()
    if weight < 0.22:
        size = 3 if weight < 0.15 else 5
        ink_image = ink_image.filter(ImageFilter.MaxFilter(size))
        owner_image = owner_image.filter(ImageFilter.MaxFilter(size))
    elif weight < 0.32:  # thinner, unless the strokes are too thin already (light faces)
        thin = ink_image.filter(ImageFilter.MinFilter(3))
        kept = np.asarray(thin, np.float32)
        if kept.max() >= 200 and kept.sum() > 0.5 * ink.sum(dtype=np.float64):
            ink_image = thin
    # One more pixel of owner around the ink: bilinear ink edges stay owned after warping.
    owner_image = owner_image.filter(ImageFilter.MaxFilter(3))
    condense = rng.random()
    sx = rng.uniform(0.55, 0.85) if condense < 0.18 else rng.uniform(1.1, 1.35) if condense < 0.26 else 1.0
    shear = rng.uniform(-0.25, 0.25) if rng.random() < 0.3 else 0.0
    angle = math.radians(float(np.clip(rng.normal(0, 4.0), -14, 14)))
    w, h = ink_image.size
    cos, sin = math.cos(angle), math.sin(angle)
    affine = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]]) @ np.array(
        [[sx, shear, 0], [0, 1, 0], [0, 0, 1]]
    )
    if rng.random() < 0.35:  # seen from the side or from below
        px, py = rng.normal(0, 0.3) / w, rng.normal(0, 0.2) / h
        affine = np.array([[1, 0, 0], [0, 1, 0], [px, py, 1]]) @ affine
    centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]])
    full = affine @ centre
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64).T
    mapped = full @ corners
    mapped = mapped[:2] / mapped[2]
    lo, hi = mapped.min(axis=1), mapped.max(axis=1)
    size = (int(math.ceil(hi[0] - lo[0])) + 2, int(math.ceil(hi[1] - lo[1])) + 2)
    full = np.array([[1, 0, -lo[0] + 1], [0, 1, -lo[1] + 1], [0, 0, 1]]) @ full
    inverse = np.linalg.inv(full)
    coeffs = tuple((inverse / inverse[2, 2]).ravel()[:8])
    ink_image = ink_image.transform(size, Image.PERSPECTIVE, coeffs, Image.BILINEAR)
    owner_image = owner_image.transform(size, Image.PERSPECTIVE, coeffs, Image.NEAREST)
    return ink_image, np.asarray(owner_image)


def char_boxes(ink_image, owner, count):
    """Per character: the (x0, y0, x1, y1) of its ink (pixels above a quarter of full)."""
    ink = np.asarray(ink_image)
    solid = ink > min(64, int(ink.max()) - 1)
    boxes = []
    for k in range(1, count + 1):
        ys, xs = np.nonzero(solid & (owner == k))
        if xs.size == 0:  # a character drowned by its neighbour's dilation: use its owner area
            ys, xs = np.nonzero(owner == k)
        if xs.size == 0:
            ys, xs = np.nonzero(solid)
        boxes.append((float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)))
    return boxes
