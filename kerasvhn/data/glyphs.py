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
def font_glyphs(path):
    """{character: Glyph} for the digits and letters of one font file (None if unusable)."""
    font = ImageFont.truetype(path, GLYPH_PIXELS)
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
def faces(split):
    """Per family, the usable faces' glyph tables, for one split."""
    families = fonts.font_families(split)
    faces = []
    for paths in families.values():
        tables = [t for t in (font_glyphs(p) for p in paths) if t is not None]
        if tables:
            faces.append(tables)
    return tuple(faces)


def font_paths(split="all"):
    """The font files numbers are drawn in (see kerasvhn.data.fonts)."""
    return [p for paths in fonts.font_families(split).values() for p in paths]


# ----------------------------------------------------------------------------- text


def number_text(rng, length):
    if length == 0:
        return ""
    # First digit: 1-9, more often small (house numbers are Benford-like), rarely 0.
    weights = np.array([0.04] + [np.log10(1 + 1 / d) + 0.05 for d in range(1, 10)])
    first = rng.choice(10, p=weights / weights.sum())
    rest = rng.integers(0, 10, size=length - 1)
    return "".join(str(d) for d in (first, *rest))


def layout(rng, glyphs, text):
    """The string's ink (uint8) and owner map (character index + 1, uint8)."""
    tracking = rng.uniform(0.85, 1.45)
    placed, x = [], 0.0
    for char in text:
        glyph = glyphs.get(char) or glyphs["0"]
        y = rng.normal(0, 0.03 * GLYPH_PIXELS)
        placed.append((glyph, x + glyph.left, y + glyph.top))
        gap = tracking + rng.normal(0, 0.08) + (rng.uniform(0.2, 0.8) if rng.random() < 0.05 else 0)
        x += glyph.advance * max(gap, 0.8)
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


def warp(rng, ink, owner):
    """Stroke weight, condensing, shear, rotation and perspective, applied to both maps."""
    ink_image, owner_image = Image.fromarray(ink), Image.fromarray(owner)
    weight = rng.random()
    if weight < 0.22:
        size = 3 if weight < 0.15 else 5
        ink_image = ink_image.filter(ImageFilter.MaxFilter(size))
        owner_image = owner_image.filter(ImageFilter.MaxFilter(size))
    elif weight < 0.32:
        ink_image = ink_image.filter(ImageFilter.MinFilter(3))
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
