"""Synthetic house numbers: street-scene crops with per-digit boxes, SVHN style.

One renderer serves two uses:

* `render_scene(index, seed)` draws a small street scene (a number on a wall or a
  plate, with its surroundings) and returns the image, the number and one tight
  box per digit: what `synthesize` writes as an SVHN format-1 folder (PNGs plus
  digitStruct.mat) and `kerasvhn prepare` crops like real SVHN;
* `render_numbers(count, seed)` frames the same kind of scene the way a model sees
  it (64x64, the digits' box expanded, resized without keeping the aspect ratio)
  for training and evaluation in memory, with framing from tight to loose and the
  number off centre, and some images with no number at all.

The realism list (after Jaderberg et al. 2014 and Ganin et al. 2016, see
FACTS.md): numbers of 1 to 5 digits, some longer ("more") and some images with
none (letters or nothing instead); 15 font families (kerasvhn.data.fonts) with
bold, light, italic and condensed faces, stroke weight changed, condensed or
widened, sheared, rotated and seen in perspective, uneven spacing; flat,
outlined, shadowed, embossed (bevelled metal) and engraved digits; walls, doors
and plates (rounded, bevelled, bordered) made of procedural surfaces or real
photographs and textures (kerasvhn.data.textures); colour pairs of low and high
contrast; clutter: smaller text, door and window edges, partial neighbouring
digits cut by the crop; lighting gradients and cast shadows; blur, low
resolution, noise and JPEG artefacts.

Image i depends only on (seed, i, split): the first n images of a larger set are
the n images of a smaller one. split "held_out" draws only fonts and backgrounds
that "train" never uses.
"""

import functools
import io
import math
import multiprocessing
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from kerasvhn.data import fonts as font_registry
from kerasvhn.data import textures
from kerasvhn.sequence import encode_numbers

#: Probabilities of 0, 1, ..., 6 digits. SVHN's training split has about 15% / 54% /
#: 26% / 4% of 1 / 2 / 3 / 4 digits and a handful of 5; long numbers are more frequent
#: here so that every digit head sees enough examples; 6 digits is the "more" class.
LENGTH_PROBABILITIES = (0.05, 0.16, 0.35, 0.28, 0.10, 0.05, 0.01)

#: Characters of clutter and of the images without a number.
LETTERS = "ABCDEFGHKLMNPRSTUVWXYZ#&"

SPLITS = ("train", "held_out")
_SPLIT_CODE = {"train": 0, "held_out": 1}
_GLYPH_PIXELS = 48  # font size at which glyphs are rasterised
_MARGIN = 10  # blank pixels around a laid-out string (room for dilation)
_EXPAND = 0.30  # the paper's expansion of the digits' box, in x and in y


class _Glyph:
    __slots__ = ("mask", "left", "top", "advance")

    def __init__(self, mask, left, top, advance):
        self.mask, self.left, self.top, self.advance = mask, left, top, advance


@functools.lru_cache(maxsize=None)
def _font_glyphs(path):
    """{character: _Glyph} for the digits and letters of one font file (None if unusable)."""
    font = ImageFont.truetype(path, _GLYPH_PIXELS)
    glyphs = {}
    for char in "0123456789" + LETTERS:
        left, top, right, bottom = font.getbbox(char)
        if right <= left or bottom <= top:
            continue
        image = Image.new("L", (right - left, bottom - top), 0)
        ImageDraw.Draw(image).text((-left, -top), char, font=font, fill=255)
        glyphs[char] = _Glyph(np.asarray(image), left, top, font.getlength(char))
    return glyphs if all(d in glyphs for d in "0123456789") else None


@functools.lru_cache(maxsize=None)
def _faces(split):
    """Per family, the usable faces' glyph tables, for one split."""
    families = font_registry.font_families(split)
    faces = []
    for paths in families.values():
        tables = [t for t in (_font_glyphs(p) for p in paths) if t is not None]
        if tables:
            faces.append(tables)
    return tuple(faces)


def font_paths(split="all"):
    """The font files numbers are drawn in (see kerasvhn.data.fonts)."""
    return [p for paths in font_registry.font_families(split).values() for p in paths]


# ----------------------------------------------------------------------------- text


def _number_text(rng, length):
    if length == 0:
        return ""
    # First digit: 1-9, more often small (house numbers are Benford-like), rarely 0.
    weights = np.array([0.04] + [np.log10(1 + 1 / d) + 0.05 for d in range(1, 10)])
    first = rng.choice(10, p=weights / weights.sum())
    rest = rng.integers(0, 10, size=length - 1)
    return "".join(str(d) for d in (first, *rest))


def _layout(rng, glyphs, text):
    """The string's ink (uint8) and owner map (character index + 1, uint8)."""
    tracking = rng.uniform(0.85, 1.45)
    placed, x = [], 0.0
    for char in text:
        glyph = glyphs.get(char) or glyphs["0"]
        y = rng.normal(0, 0.03 * _GLYPH_PIXELS)
        placed.append((glyph, x + glyph.left, y + glyph.top))
        gap = tracking + rng.normal(0, 0.08) + (rng.uniform(0.2, 0.8) if rng.random() < 0.05 else 0)
        x += glyph.advance * max(gap, 0.8)
    x0 = min(p[1] for p in placed)
    y0 = min(p[2] for p in placed)
    width = int(max(p[1] + p[0].mask.shape[1] for p in placed) - x0) + 2 * _MARGIN + 1
    height = int(max(p[2] + p[0].mask.shape[0] for p in placed) - y0) + 2 * _MARGIN + 1
    ink = np.zeros((height, width), np.uint8)
    owner = np.zeros((height, width), np.uint8)
    for k, (glyph, gx, gy) in enumerate(placed):
        top, left = int(round(gy - y0)) + _MARGIN, int(round(gx - x0)) + _MARGIN
        h, w = glyph.mask.shape
        np.maximum(ink[top : top + h, left : left + w], glyph.mask, out=ink[top : top + h, left : left + w])
        owner[top : top + h, left : left + w][glyph.mask > 16] = k + 1
    return ink, owner


def _warp(rng, ink, owner):
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


def _boxes(ink_image, owner, count):
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


# ----------------------------------------------------------------------------- colour


def _luminance(rgb):
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def _pick_colour(rng):
    """Mostly muted colours, as on walls and plates; some vivid ones; greys."""
    import colorsys

    if rng.random() < 0.3:
        return np.full(3, rng.uniform(0.03, 0.97)) + rng.normal(0, 0.02, 3)
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.beta(0.7, 1.5), rng.uniform(0.05, 1.0))
    return np.clip(np.array(rgb), 0, 1)


def _contrasting(rng, base, contrast):
    for _ in range(30):
        colour = _pick_colour(rng)
        if abs(_luminance(colour) - _luminance(base)) >= contrast:
            return np.clip(colour, 0, 1)
    light = _luminance(base) < 0.5
    return np.clip(np.full(3, 0.92 if light else 0.06) + rng.uniform(-0.05, 0.05, 3), 0, 1)


# ----------------------------------------------------------------------------- layers


def _resample(image, box, width, height):
    """The float box (x0, y0, x1, y1) of an L image as (height, width) floats in [0, 1];
    outside the image is 0."""
    x0, y0, x1, y1 = box
    pad = int(math.ceil(max(0.0, -x0, -y0, x1 - image.size[0], y1 - image.size[1]))) + 1
    if pad > 1:
        padded = Image.new("L", (image.size[0] + 2 * pad, image.size[1] + 2 * pad), 0)
        padded.paste(image, (pad, pad))
        image, box = padded, (x0 + pad, y0 + pad, x1 + pad, y1 + pad)
    out = image.resize((width, height), Image.BILINEAR, box=tuple(float(c) for c in box))
    return np.asarray(out, np.float32) / 255.0


def _blend(image, alpha, colour):
    alpha = alpha[..., None]
    return image * (1 - alpha) + colour * alpha


def _shift(alpha, dx, dy):
    """alpha moved by whole pixels (dx right, dy down), zero-filled."""
    out = np.zeros_like(alpha)
    h, w = alpha.shape
    dx, dy = int(dx), int(dy)
    out[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = alpha[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def _plate(rng, image, box_px, digit_colour, contrast, split):
    """A plate behind the digits (rounded, maybe bordered and bevelled); returns its colour."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box_px
    bh = y1 - y0
    grow = rng.uniform(0.1, 0.6, size=4) * bh
    rect = (x0 - grow[0], y0 - grow[1], x1 + grow[2], y1 + grow[3])
    plate_colour = _contrasting(rng, digit_colour, contrast)
    mask = Image.new("L", (width, height), 0)
    radius = int(rng.uniform(0, 0.35) * bh) if rng.random() < 0.6 else 0
    ImageDraw.Draw(mask).rounded_rectangle(rect, radius=radius, fill=255)
    alpha = np.asarray(mask, np.float32) / 255.0
    plate = textures.surface(rng, plate_colour, width, height, split) if rng.random() < 0.3 else (
        plate_colour + rng.uniform(0, 0.15) * textures.ramp(rng, width, height)
    )
    image[:] = image * (1 - alpha[..., None]) + plate * alpha[..., None]
    if rng.random() < 0.5:  # bevel: lit top-left edge, shaded bottom-right edge
        step = max(1, int(round(bh * rng.uniform(0.03, 0.08))))
        light = np.clip(alpha - _shift(alpha, step, step), 0, 1)
        dark = np.clip(alpha - _shift(alpha, -step, -step), 0, 1)
        image[:] = _blend(image, light * rng.uniform(0.3, 0.8), np.ones(3))
        image[:] = _blend(image, dark * rng.uniform(0.3, 0.8), np.zeros(3))
    if rng.random() < 0.35:  # a painted border inside the edge
        border = Image.new("L", (width, height), 0)
        inset = max(1.0, 0.08 * bh)
        inner = (rect[0] + inset, rect[1] + inset, rect[2] - inset, rect[3] - inset)
        if inner[2] > inner[0] + 2 and inner[3] > inner[1] + 2:
            ImageDraw.Draw(border).rounded_rectangle(
                inner, radius=max(radius - int(inset), 0), outline=255, width=max(1, int(0.05 * bh))
            )
            image[:] = _blend(image, np.asarray(border, np.float32) / 255.0, digit_colour)
    return plate_colour


def _edges(rng, image, box_px):
    """Door and window frames, pipes, the edge of a neighbouring sign: straight bands
    outside the digits."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box_px
    for _ in range(int(rng.integers(1, 3))):
        band = Image.new("L", (width, height), 0)
        thick = max(1.0, rng.uniform(0.05, 0.4) * (y1 - y0))
        vertical = rng.random() < 0.6
        lo, hi, extent = (x0, x1, width) if vertical else (y0, y1, height)
        room = [(0.0, lo - thick), (hi, float(extent))]
        room = [r for r in room if r[1] > r[0]]
        if not room:
            continue
        start, stop = room[int(rng.integers(len(room)))]
        at = rng.uniform(start, stop)
        if vertical:  # a door or window frame, a pipe, left or right of the number
            tilt = rng.normal(0, 0.05) * height
            corners = [(at, 0), (at + thick, 0), (at + thick + tilt, height), (at + tilt, height)]
        else:  # a lintel, a sill, the edge of a sign, above or below
            tilt = rng.normal(0, 0.05) * width
            corners = [(0, at), (width, at + tilt), (width, at + tilt + thick), (0, at + thick)]
        ImageDraw.Draw(band).polygon(corners, fill=255)
        alpha = np.asarray(band.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1))), np.float32) / 255.0
        image[:] = _blend(image, alpha, _pick_colour(rng))


def _paste_text(rng, image, glyphs, text, x, y, height_px, colour):
    """Draws text (a fresh layout) with its ink box's top-left at (x, y), height_px tall."""
    ink, _ = _layout(rng, glyphs, text)
    ink_image = Image.fromarray(ink)
    h, w = ink.shape
    inner = h - 2 * _MARGIN
    scale = height_px / max(inner, 1)
    box = (_MARGIN - x / scale, _MARGIN - y / scale)
    view = (box[0], box[1], box[0] + image.shape[1] / scale, box[1] + image.shape[0] / scale)
    alpha = _resample(ink_image, view, image.shape[1], image.shape[0])
    image[:] = _blend(image, alpha, colour)


def _clutter_text(rng, image, faces, box_px, colour):
    """Smaller text above or below the number: a street name, a phone number, a sign."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box_px
    size = rng.uniform(0.2, 0.45) * (y1 - y0)
    glyphs = faces[int(rng.integers(len(faces)))][0]
    count = int(rng.integers(2, 8))
    pool = LETTERS + "0123456789" if rng.random() < 0.3 else LETTERS
    text = "".join(rng.choice(list(pool), size=count))
    gap = rng.uniform(0.1, 0.4) * (y1 - y0)
    y = y0 - gap - size if rng.random() < 0.5 else y1 + gap
    x = rng.uniform(-0.5, 1.0) * (x1 - x0) + x0
    _paste_text(rng, image, glyphs, text, x, y, size, colour)


def _partial_digit(rng, image, glyphs, box_px, digit_height, colour):
    """A neighbouring digit cut by the crop: at most 40% of it inside, at the left or
    right edge, never over the number."""
    width = image.shape[1]
    char = str(int(rng.integers(10)))
    glyph = glyphs[char]
    gw = glyph.mask.shape[1] * digit_height / glyph.mask.shape[0]
    visible = rng.uniform(0.1, 0.4) * gw
    if rng.random() < 0.5:
        x = visible - gw
        if x + gw > box_px[0] - 0.05 * digit_height:
            return
    else:
        x = width - visible
        if x < box_px[2] + 0.05 * digit_height:
            return
    y = box_px[1] + rng.normal(0, 0.05) * digit_height
    _paste_text(rng, image, glyphs, char, x, y, digit_height, colour)


def _camera(rng, pixels):
    """Blur, low resolution, JPEG and noise on a uint8 RGB PIL image."""
    width, height = pixels.size
    if rng.random() < 0.25:  # a low-resolution capture, upscaled
        factor = rng.uniform(0.35, 0.7)
        low = (max(4, int(width * factor)), max(4, int(height * factor)))
        pixels = pixels.resize(low, Image.BILINEAR).resize((width, height), Image.BILINEAR)
    kind = rng.random()
    if kind < 0.12:  # motion blur along x or y
        n = int(rng.choice([3, 5]))
        line = np.zeros((n, n))
        line[n // 2, :] = 1.0
        if rng.random() < 0.4:
            line = line.T
        pixels = pixels.filter(ImageFilter.Kernel((n, n), line.ravel().tolist(), scale=n))
    else:
        radius = rng.uniform(0, 1.1) * height / 64
        if radius > 0.25:
            pixels = pixels.filter(ImageFilter.GaussianBlur(radius))
    if rng.random() < 0.3:
        buffer = io.BytesIO()
        pixels.save(buffer, format="JPEG", quality=int(rng.integers(25, 90)))
        pixels = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out = np.asarray(pixels, np.float32)
    out = out + rng.normal(0, rng.uniform(0, 9), size=out.shape).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- scenes


def _framing(rng, box, kind):
    """The view around the digits' box (x0, y0, x1, y1), in the same coordinates.

    kind "frame": what a model is shown: the paper's 15% per side with annotation
    noise half the time, otherwise loose (up to a whole box width per side, the
    number off centre) or tight. kind "scene": the whole photo around the number.
    """
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    if kind == "scene":
        sides = rng.uniform(0.2, 1.2, size=4)
    else:
        u = rng.random()
        if u < 0.5:
            sides = _EXPAND / 2 * np.exp(rng.normal(0, 0.25, size=4))
            sides[:2] += rng.normal(0, 0.04, size=2)
        elif u < 0.85:
            sides = rng.uniform(0.15, 1.0, size=4)
        else:
            sides = rng.uniform(0.0, 0.1, size=4)
        sides = np.maximum(sides, 0.0)
    return (x0 - sides[0] * bw, y0 - sides[1] * bh, x1 + sides[2] * bw, y1 + sides[3] * bh)


def _compose(rng, split, length_probabilities, kind):
    """Renders one image. Returns (uint8 image, number text, digit boxes in pixels)."""
    faces = _faces(split)
    family = faces[int(rng.integers(len(faces)))]
    glyphs = family[int(rng.integers(len(family)))]
    length = int(rng.choice(len(length_probabilities), p=length_probabilities))
    text = _number_text(rng, length)
    drawn = text
    if not text:  # no number: letters, or nothing but the surroundings
        drawn = "".join(rng.choice(list(LETTERS), size=int(rng.integers(1, 4)))) if rng.random() < 0.5 else ""

    contrast = rng.uniform(0.15, 0.3) if rng.random() < 0.25 else rng.uniform(0.3, 0.8)
    digit_colour = _pick_colour(rng)
    if drawn:
        ink, owner = _layout(rng, glyphs, drawn)
        ink_image, owner = _warp(rng, ink, owner)
        boxes = _boxes(ink_image, owner, len(drawn))
        union = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    else:
        ink_image, boxes = None, []
        union = (0.0, 0.0, 30.0 * rng.uniform(0.8, 3), 40.0)
    view = _framing(rng, union, kind)
    vw, vh = view[2] - view[0], view[3] - view[1]
    if kind == "scene":
        scale = rng.uniform(16, 48) / (union[3] - union[1])
    else:
        scale = rng.uniform(24, 110) / vh
    width, height = max(8, int(round(vw * scale))), max(8, int(round(vh * scale)))
    sx, sy = width / vw, height / vh

    def to_px(b):
        return ((b[0] - view[0]) * sx, (b[1] - view[1]) * sy, (b[2] - view[0]) * sx, (b[3] - view[1]) * sy)

    box_px = to_px(union)
    digit_height = box_px[3] - box_px[1]

    on_plate = rng.random() < 0.45
    base = _contrasting(rng, digit_colour, contrast)
    wall = _pick_colour(rng) if on_plate else base
    image = textures.surface(rng, wall, width, height, split)
    if rng.random() < 0.3:
        _edges(rng, image, box_px)
    if on_plate:
        base = _plate(rng, image, box_px, digit_colour, contrast, split)
    if rng.random() < 0.3:
        _clutter_text(rng, image, faces, box_px, _contrasting(rng, base, 0.2))
    if kind == "frame" and rng.random() < 0.2:
        _partial_digit(rng, image, glyphs, box_px, digit_height, digit_colour)

    if ink_image is not None:
        alpha = _resample(ink_image, view, width, height)
        style = rng.random()
        if style < 0.12:  # outlined
            wide = ink_image.filter(ImageFilter.MaxFilter(int(rng.choice([5, 7]))))
            outline = _contrasting(rng, digit_colour, 0.25)
            image = _blend(image, _resample(wide, view, width, height), outline)
        elif style < 0.27:  # drop shadow
            dx, dy = rng.uniform(0.03, 0.1, size=2) * digit_height * rng.choice([-1, 1], size=2)
            shadow = _shift(alpha, round(dx), round(dy))
            image = _blend(image, shadow * rng.uniform(0.4, 0.9), base * rng.uniform(0.1, 0.5))
        paint = digit_colour + rng.uniform(0, 0.15) * textures.ramp(rng, width, height)
        image = _blend(image, alpha, paint)
        if style > 0.75:  # embossed (raised, lit from above) or engraved (cut in)
            step = max(1, int(round(digit_height * rng.uniform(0.03, 0.07))))
            sign = 1 if style < 0.9 else -1
            light = np.clip(alpha - _shift(alpha, sign * step, sign * step), 0, 1)
            dark = np.clip(alpha - _shift(alpha, -sign * step, -sign * step), 0, 1)
            image = _blend(image, light * rng.uniform(0.3, 0.7), np.ones(3))
            image = _blend(image, dark * rng.uniform(0.3, 0.7), np.zeros(3))

    # Lighting: uneven illumination, a cast shadow, an overall exposure.
    image = image * (1 + rng.uniform(0, 0.5) * textures.ramp(rng, width, height))
    if rng.random() < 0.15:
        edge = textures.ramp(rng, width, height)[..., 0] * rng.uniform(3, 12) + rng.normal(0, 1)
        image = image * (1 - rng.uniform(0.2, 0.6) / (1 + np.exp(-edge)))[..., None]
    image = image * rng.uniform(0.7, 1.2)
    pixels = Image.fromarray(np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8))
    out = _camera(rng, pixels)
    digit_boxes = [to_px(b) for b in boxes] if text else []
    return out, text, digit_boxes


def _probabilities(max_digits):
    longest = min(len(LENGTH_PROBABILITIES) - 1, max_digits + 1)
    p = np.array(LENGTH_PROBABILITIES[: longest + 1])
    return p / p.sum()


def _rng(seed, index, split):
    return np.random.default_rng([seed, index, _SPLIT_CODE[split]])


def render_scene(index, seed=0, split="train"):
    """One synthetic street scene: (uint8 image (H, W, 3), number, digit boxes).

    Boxes are (left, top, width, height) floats, one per digit, in the image's
    pixels; the number has 1 to 6 digits.

    >>> from kerasvhn.data.synth import render_scene
    >>> image, number, boxes = render_scene(0, seed=1)
    >>> image.dtype, len(boxes) == len(number) > 0
    (dtype('uint8'), True)
    """
    _check_split(split)
    rng = _rng(seed, index, split)
    p = np.array(LENGTH_PROBABILITIES[1:])
    p = np.concatenate([[0.0], p / p.sum()])
    image, text, boxes = _compose(rng, split, p, "scene")
    return image, text, [(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in boxes]


def _render_framed(task):
    index, seed, split, max_digits, size = task
    rng = _rng(seed, index, split)
    image, text, _ = _compose(rng, split, _probabilities(max_digits), "frame")
    image = Image.fromarray(image).resize((size, size), Image.BILINEAR)
    return np.asarray(image, np.uint8), text


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def parallel_map(function, tasks, workers, progress, description, unit="img"):
    """function over tasks, in order, in `workers` spawned processes, with a tqdm bar."""
    from tqdm.auto import tqdm

    with tqdm(total=len(tasks), desc=description, unit=unit, disable=not progress) as bar:
        if workers <= 1 or len(tasks) < 256:
            for task in tasks:
                yield function(task)
                bar.update()
            return
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for result in pool.imap(function, tasks, chunksize=64):
                yield result
                bar.update()


def render_numbers(count, seed=0, max_digits=5, size=64, split="train", workers=1, progress=False):
    """Renders `count` framed synthetic house numbers and their labels, in memory.

    Args:
        count: the number of images.
        seed: a non-negative int; image i depends only on (seed, i, split).
        max_digits: the labels' number of digit positions; longer numbers (at
            most max_digits + 1 digits) get the "more" length class.
        size: the side of the square images (64, as the paper's crops).
        split: "train", or "held_out" for fonts and backgrounds training never sees.
        workers: processes to render in (2 on these machines halves the time).
        progress: show a progress bar.

    Returns:
        (images, labels): uint8 (count, size, size, 3) and `{"length", "digits"}`
        as made by `kerasvhn.encode_numbers` (length 0: no number in the image).

    >>> from kerasvhn import labels_to_numbers
    >>> from kerasvhn.data import render_numbers
    >>> images, labels = render_numbers(6, seed=0)
    >>> images.shape, images.dtype, labels["digits"].shape
    ((6, 64, 64, 3), dtype('uint8'), (6, 5))
    >>> labels_to_numbers(labels) == labels_to_numbers(render_numbers(6, seed=0)[1])
    True
    """
    count = _check_int("count", count, 0)
    seed = _check_int("seed", seed, 0)
    max_digits = _check_int("max_digits", max_digits, 1)
    size = _check_int("size", size, 16)
    workers = _check_int("workers", workers, 1)
    _check_split(split)
    images = np.empty((count, size, size, 3), np.uint8)
    numbers = []
    tasks = [(i, seed, split, max_digits, size) for i in range(count)]
    for i, (image, text) in enumerate(parallel_map(_render_framed, tasks, workers, progress, "render")):
        images[i] = image
        numbers.append(text)
    return images, encode_numbers(numbers, max_digits=max_digits)


def _write_scene(task):
    out, index, seed, split = task
    image, text, boxes = render_scene(index, seed, split)
    name = f"{index + 1}.png"
    Image.fromarray(image).save(os.path.join(out, name), compress_level=1)
    record = {"name": name, "label": [float(int(c) or 10) for c in text]}
    for key, column in (("left", 0), ("top", 1), ("width", 2), ("height", 3)):
        record[key] = [float(round(b[column])) for b in boxes]
    record["width"] = [max(1.0, w) for w in record["width"]]
    record["height"] = [max(1.0, h) for h in record["height"]]
    return record


def synthesize(out, count, seed=0, split="train", workers=None, progress=True):
    """Writes an SVHN format-1 folder: out/1.png .. out/N.png and out/digitStruct.mat.

    Each PNG is a street scene; its digitStruct entry has one box per digit
    (label 10 for the digit 0, as in SVHN). Returns the records written.

    >>> import tempfile
    >>> from kerasvhn.data import read_digitstruct, synthesize
    >>> folder = tempfile.mkdtemp()
    >>> records = synthesize(folder, 3, seed=0, progress=False)
    >>> [r["name"] for r in read_digitstruct(folder + "/digitStruct.mat").records()]
    ['1.png', '2.png', '3.png']
    """
    from kerasvhn.data.digitstruct_writer import write_digitstruct

    count = _check_int("count", count, 1)
    seed = _check_int("seed", seed, 0)
    _check_split(split)
    os.makedirs(out, exist_ok=True)
    workers = workers or min(2, os.cpu_count() or 1)
    tasks = [(out, i, seed, split) for i in range(count)]
    records = list(parallel_map(_write_scene, tasks, workers, progress, "synth"))
    write_digitstruct(os.path.join(out, "digitStruct.mat"), records)
    return records
