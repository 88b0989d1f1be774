"""Synthetic house numbers: rendered digit strings framed like the paper's SVHN crops.

`render_numbers(count, seed)` draws numbers of 1 to 5 digits (mostly 1 to 3, as in
SVHN) and a few images with no number, and renders each with Pillow from the fonts
that ship with matplotlib (DejaVu Sans, Sans Mono and Serif, STIX and Computer
Modern, with their bold and italic/oblique variants):

* the digits are laid out with the font's advances, uneven gaps and a little
  vertical jitter, thickened or thinned now and then, sheared and rotated a little;
* the frame follows the paper's preprocessing: the box around the digits, expanded
  by 30% in x and in y (with a little annotation noise), is cropped and resized to
  size x size without keeping the aspect ratio, so the digits fill most of the
  height and long numbers are squeezed, as in Goodfellow et al. 2013;
* colours: random foreground and background with a minimum luminance contrast,
  a background made of a gradient, low-frequency blotches and sometimes stripes
  (siding, bricks) or a plate with a wall around it, sometimes an outline or a drop
  shadow under the digits;
* the camera: uneven lighting, blur, sometimes low resolution or JPEG compression,
  Gaussian noise.

Images with no number (length 0) show the same backgrounds, half of them with a few
letters or symbols instead of digits, so that "no number" does not just mean "no
strokes". Image i depends only on (seed, i): the first n images of a larger set are
the n images of a smaller one.

A later version will add the full-realism generator; this one is meant to be
simple, fast (about 500 images per second on one CPU core) and good enough to
train and test the models of this package without downloading SVHN.
"""

import colorsys
import functools
import io
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from kerasvhn.sequence import encode_numbers

#: matplotlib's bundled fonts that have ordinary lining digits (cmmi10 has old-style
#: digits; the STIX "NonUni"/"Siz" fonts and DejaVu "Display" have none).
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmb10.ttf",
    "cmss10.ttf",
    "cmti10.ttf",
    "cmtt10.ttf",
)

#: Probabilities of 0, 1, 2, 3, 4 and 5 digits. SVHN's training split has about
#: 15% / 54% / 26% / 4% of 1 / 2 / 3 / 4 digits and a handful of 5; long numbers are
#: a little more frequent here so that every digit head sees enough examples.
LENGTH_PROBABILITIES = (0.05, 0.16, 0.36, 0.28, 0.10, 0.05)

#: Characters drawn in images without a number: letters and symbols that do not
#: look like digits.
DISTRACTORS = "ACEFHKMNPRTUVWXY#&"

_GLYPH_PIXELS = 48  # font size at which glyphs are rasterised (before framing)
_EXPAND = 0.30  # the paper's expansion of the digits' box, in x and in y
_MIN_CONTRAST = 0.28  # minimum luminance difference between digits and background


class _Glyph:
    __slots__ = ("mask", "left", "top", "advance")

    def __init__(self, mask, left, top, advance):
        self.mask, self.left, self.top, self.advance = mask, left, top, advance


def font_paths():
    """The TrueType files used for the digits (those of FONT_FILES matplotlib has)."""
    import matplotlib

    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    paths = [os.path.join(folder, name) for name in FONT_FILES]
    paths = [path for path in paths if os.path.isfile(path)]
    if not paths:
        raise RuntimeError(f"no usable fonts found in {folder} (is matplotlib installed?)")
    return paths


@functools.lru_cache(maxsize=None)
def _fonts():
    """Per font: {character: _Glyph} for the digits and the distractors."""
    fonts = []
    for path in font_paths():
        font = ImageFont.truetype(path, _GLYPH_PIXELS)
        glyphs = {}
        for char in "0123456789" + DISTRACTORS:
            left, top, right, bottom = font.getbbox(char)
            if right <= left or bottom <= top:
                continue
            image = Image.new("L", (right - left, bottom - top), 0)
            ImageDraw.Draw(image).text((-left, -top), char, font=font, fill=255)
            glyphs[char] = _Glyph(np.asarray(image), left, top, font.getlength(char))
        if all(str(d) in glyphs for d in range(10)):
            fonts.append(glyphs)
    return tuple(fonts)


def _number_text(rng, length):
    if length == 0:
        return ""
    # First digit: 1-9, more often small (house numbers are Benford-like), rarely 0.
    first_weights = np.array([0.04] + [np.log10(1 + 1 / d) + 0.05 for d in range(1, 10)])
    first = rng.choice(10, p=first_weights / first_weights.sum())
    rest = rng.integers(0, 10, size=length - 1)
    return "".join(str(d) for d in (first, *rest))


def _layout(rng, glyphs, text):
    """The characters' ink as one L-mode image, laid out with uneven spacing."""
    tracking = rng.uniform(0.88, 1.4)  # overall letter spacing, in advances
    placed, x = [], 0.0
    for char in text:
        glyph = glyphs[char]
        y = rng.normal(0, 0.03 * _GLYPH_PIXELS)
        placed.append((glyph, x + glyph.left, y + glyph.top))
        x += glyph.advance * max(tracking + rng.normal(0, 0.08), 0.8)
    margin = _GLYPH_PIXELS
    x0 = min(p[1] for p in placed)
    y0 = min(p[2] for p in placed)
    width = int(max(p[1] + p[0].mask.shape[1] for p in placed) - x0) + 2 * margin + 1
    height = int(max(p[2] + p[0].mask.shape[0] for p in placed) - y0) + 2 * margin + 1
    canvas = np.zeros((height, width), np.uint8)
    for glyph, gx, gy in placed:
        top, left = int(round(gy - y0)) + margin, int(round(gx - x0)) + margin
        h, w = glyph.mask.shape
        np.maximum(canvas[top : top + h, left : left + w], glyph.mask, out=canvas[top : top + h, left : left + w])
    return Image.fromarray(canvas)


def _deform(rng, mask):
    """Stroke weight, shear and rotation of the laid-out characters."""
    weight = rng.random()
    if weight < 0.2:
        mask = mask.filter(ImageFilter.MaxFilter(3 if weight < 0.14 else 5))
    elif weight < 0.3:
        mask = mask.filter(ImageFilter.MinFilter(3))
    if rng.random() < 0.35:
        shear = rng.uniform(-0.25, 0.25)
        mask = mask.transform(
            mask.size, Image.AFFINE, (1, shear, -shear * mask.size[1] / 2, 0, 1, 0), resample=Image.BILINEAR
        )
    angle = float(np.clip(rng.normal(0, 4.0), -12, 12))
    if abs(angle) > 0.3:
        mask = mask.rotate(angle, resample=Image.BILINEAR, expand=True)
    return mask


def _ink_box(mask):
    """(left, top, right, bottom) of the ink: pixels above a quarter of full coverage."""
    array = np.asarray(mask)
    threshold = min(64, int(array.max()) - 1)
    rows = np.flatnonzero(array.max(axis=1) > threshold)
    cols = np.flatnonzero(array.max(axis=0) > threshold)
    if rows.size == 0:  # nothing drawn at all (cannot happen with the bundled fonts)
        return 0, 0, array.shape[1], array.shape[0]
    return cols[0], rows[0], cols[-1] + 1, rows[-1] + 1


def _frame(rng, box):
    """The paper's crop: the box expanded by 30% in x and y, with annotation noise."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 + rng.normal(0, 0.04) * w
    cy = (y0 + y1) / 2 + rng.normal(0, 0.04) * h
    half_w = w * (1 + _EXPAND) * np.exp(rng.normal(0, 0.06)) / 2
    half_h = h * (1 + _EXPAND) * np.exp(rng.normal(0, 0.06)) / 2
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def _resize(mask, crop, size):
    """mask's `crop` box (floats, may leave the image: padded with 0) as size x size floats."""
    x0, y0, x1, y1 = crop
    pad = int(np.ceil(max(0.0, -x0, -y0, x1 - mask.size[0], y1 - mask.size[1]))) + 1
    if pad > 1:
        padded = Image.new("L", (mask.size[0] + 2 * pad, mask.size[1] + 2 * pad), 0)
        padded.paste(mask, (pad, pad))
        mask, crop = padded, (x0 + pad, y0 + pad, x1 + pad, y1 + pad)
    out = mask.resize((size, size), Image.BILINEAR, box=tuple(float(c) for c in crop))
    return np.asarray(out, np.float32) / 255.0


def _luminance(rgb):
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def _colours(rng):
    """Background and foreground RGB in [0, 1] with at least _MIN_CONTRAST between them."""

    def pick():  # mostly muted colours, as on walls and plates; some vivid ones
        saturation = rng.beta(0.7, 1.5)
        value = rng.uniform(0.05, 1.0)
        return np.array(colorsys.hsv_to_rgb(rng.random(), saturation, value))
    background = np.clip(pick(), 0, 1)
    for _ in range(20):
        foreground = np.clip(pick(), 0, 1)
        if abs(_luminance(foreground) - _luminance(background)) >= _MIN_CONTRAST:
            return background, foreground
    # No luck: black or white, whichever contrasts more.
    light = _luminance(background) < 0.5
    return background, np.full(3, 0.9 if light else 0.08) + rng.uniform(-0.05, 0.05, 3)


def _smooth_noise(rng, size, cells, channels=1):
    """Low-frequency noise in [-1, 1]: a cells x cells grid upsampled bicubically."""
    grid = rng.uniform(0, 255, size=(cells, cells, channels)).astype(np.uint8)
    image = Image.fromarray(grid[..., 0] if channels == 1 else grid)
    up = np.asarray(image.resize((size, size), Image.BICUBIC), np.float32) / 127.5 - 1.0
    return up[..., None] if channels == 1 else up


def _ramp(rng, size):
    """A linear ramp in [-1, 1] along a random direction, (size, size, 1)."""
    theta = rng.uniform(0, 2 * np.pi)
    coords = np.linspace(-1, 1, size, dtype=np.float32)
    ramp = np.cos(theta) * coords[None, :] + np.sin(theta) * coords[:, None]
    return (ramp / np.sqrt(2))[..., None]


def _surface(rng, colour, size):
    """A textured surface of the given base colour: (size, size, 3) floats."""
    surface = np.broadcast_to(colour.astype(np.float32), (size, size, 3)).copy()
    surface += rng.uniform(0, 0.25) * _ramp(rng, size)
    surface += rng.uniform(0, 0.12) * _smooth_noise(rng, size, int(rng.integers(3, 8)), 3)
    texture = rng.random()
    if texture < 0.25:  # stripes: siding, planks, bricks' rows
        period = rng.uniform(4, 16) * size / 64
        theta = rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.1)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        phase = (np.cos(theta) * yy + np.sin(theta) * xx) * (2 * np.pi / period)
        stripes = np.sin(phase + rng.uniform(0, 2 * np.pi))
        if rng.random() < 0.5:
            stripes = np.sign(stripes) * np.abs(stripes) ** 0.2  # sharper edges
        surface += rng.uniform(0.03, 0.12) * stripes[..., None]
    elif texture < 0.55:  # grain: stucco, concrete, wood
        grain = rng.normal(0, 1, (size, size, 1)).astype(np.float32)
        grain = np.asarray(
            Image.fromarray(np.clip(grain[..., 0] * 40 + 128, 0, 255).astype(np.uint8)).filter(
                ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5))
            ),
            np.float32,
        )[..., None] / 128.0 - 1.0
        surface += rng.uniform(0.05, 0.25) * grain
    return surface


def _background(rng, colour, digit_box, size):
    """The surface behind the digits, sometimes a plate on a different wall."""
    image = _surface(rng, colour, size)
    if rng.random() < 0.35:
        wall = _colours(rng)[0]
        wall_image = _surface(rng, wall, size)
        x0, y0, x1, y1 = digit_box
        grow = rng.uniform(1.0, 1.5, size=4) * rng.uniform(0.05, 0.25) * size
        px0, py0 = int(round(x0 - grow[0])), int(round(y0 - grow[1]))
        px1, py1 = int(round(x1 + grow[2])), int(round(y1 + grow[3]))
        inside = np.zeros((size, size, 1), np.float32)
        inside[max(py0, 0) : max(py1, 0), max(px0, 0) : max(px1, 0)] = 1.0
        image = wall_image * (1 - inside) + image * inside
        if rng.random() < 0.4:  # the plate's border
            border = Image.new("L", (size, size), 0)
            ImageDraw.Draw(border).rectangle(
                (px0 + 1, py0 + 1, px1 - 2, py1 - 2), outline=255, width=int(rng.integers(1, 3))
            )
            alpha = np.asarray(border, np.float32)[..., None] / 255.0
            image = image * (1 - alpha) + np.clip(rng.random(3), 0, 1) * alpha
    return image


def _render_one(index, seed, length_probabilities, size):
    rng = np.random.default_rng([seed, index])
    length = int(rng.choice(len(length_probabilities), p=length_probabilities))
    fonts = _fonts()
    glyphs = fonts[int(rng.integers(len(fonts)))]
    text = _number_text(rng, length)
    background, foreground = _colours(rng)

    mask = alpha_outline = alpha_shadow = None
    drawn = text
    if not text and rng.random() < 0.5:  # no number, but letters or symbols
        drawn = "".join(rng.choice(list(DISTRACTORS), size=int(rng.integers(1, 4))))
        drawn = "".join(c for c in drawn if c in glyphs) or "A"
    if drawn:
        ink = _deform(rng, _layout(rng, glyphs, drawn))
        box = _ink_box(ink)
        crop = _frame(rng, box)
        mask = _resize(ink, crop, size)
        effect = rng.random()
        if effect < 0.12:  # outline around the strokes
            wide = ink.filter(ImageFilter.MaxFilter(int(rng.choice([5, 7]))))
            alpha_outline = _resize(wide, crop, size)
        elif effect < 0.27:  # drop shadow
            dx, dy = (rng.integers(1, 4, size=2) * rng.choice([-1, 1], size=2)) * 1.5
            alpha_shadow = _resize(ink, (crop[0] - dx, crop[1] - dy, crop[2] - dx, crop[3] - dy), size)
        scale_x, scale_y = size / (crop[2] - crop[0]), size / (crop[3] - crop[1])
        digit_box = (
            (box[0] - crop[0]) * scale_x,
            (box[1] - crop[1]) * scale_y,
            (box[2] - crop[0]) * scale_x,
            (box[3] - crop[1]) * scale_y,
        )
    else:
        margin = size * _EXPAND / 2 / (1 + _EXPAND)
        digit_box = (margin, margin, size - margin, size - margin)

    image = _background(rng, background, digit_box, size)
    if alpha_shadow is not None:
        shade = background * rng.uniform(0.1, 0.5)
        image = image * (1 - alpha_shadow[..., None]) + shade * alpha_shadow[..., None]
    if alpha_outline is not None:
        outline = np.clip(rng.random(3), 0, 1)
        if abs(_luminance(outline) - _luminance(foreground)) < _MIN_CONTRAST:
            outline = 1.0 - foreground
        image = image * (1 - alpha_outline[..., None]) + outline * alpha_outline[..., None]
    if mask is not None:
        paint = foreground + rng.uniform(0, 0.15) * _ramp(rng, size)
        image = image * (1 - mask[..., None]) + paint * mask[..., None]

    # Lighting: an uneven illumination and an overall exposure.
    image = image * (1 + rng.uniform(0, 0.5) * _ramp(rng, size)) * rng.uniform(0.75, 1.15)
    pixels = Image.fromarray(np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8))
    if rng.random() < 0.2:  # a small, upscaled crop
        low = int(size * rng.uniform(0.4, 0.7))
        pixels = pixels.resize((low, low), Image.BILINEAR).resize((size, size), Image.BILINEAR)
    radius = rng.uniform(0, 1.2) * size / 64
    if radius > 0.2:
        pixels = pixels.filter(ImageFilter.GaussianBlur(radius))
    if rng.random() < 0.3:
        buffer = io.BytesIO()
        pixels.save(buffer, format="JPEG", quality=int(rng.integers(30, 90)))
        pixels = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out = np.asarray(pixels, np.float32)
    out += rng.normal(0, rng.uniform(0, 10), size=out.shape).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), text


def render_numbers(count, seed=0, max_digits=5, size=64):
    """Renders `count` synthetic house-number images and their labels.

    Args:
        count: the number of images.
        seed: a non-negative int; the same seed gives the same images and labels,
            and image i depends only on (seed, i).
        max_digits: the labels' number of digit positions; numbers have at most
            min(5, max_digits) digits.
        size: the side of the square images (64, as the paper's crops).

    Returns:
        (images, labels): images uint8 (count, size, size, 3) and labels
        `{"length": int32 (count,), "digits": int32 (count, max_digits)}` as made by
        `kerasvhn.encode_numbers` (length 0: no number in the image).

    Example:

    >>> from kerasvhn import labels_to_numbers
    >>> from kerasvhn.data import render_numbers
    >>> images, labels = render_numbers(6, seed=0)
    >>> images.shape, images.dtype, labels["digits"].shape
    ((6, 64, 64, 3), dtype('uint8'), (6, 5))
    >>> numbers = labels_to_numbers(labels)
    >>> numbers == labels_to_numbers(render_numbers(6, seed=0)[1])
    True
    >>> all(1 <= len(n) <= 5 or n == "" for n in numbers)
    True
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be a non-negative int, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if isinstance(max_digits, bool) or not isinstance(max_digits, (int, np.integer)) or max_digits < 1:
        raise ValueError(f"max_digits must be a positive int, got {max_digits!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an int >= 16, got {size!r}")
    count, seed, max_digits, size = int(count), int(seed), int(max_digits), int(size)

    probabilities = np.array(LENGTH_PROBABILITIES[: min(5, max_digits) + 1])
    probabilities /= probabilities.sum()
    images = np.empty((count, size, size, 3), np.uint8)
    numbers = []
    for index in range(count):
        images[index], text = _render_one(index, seed, probabilities, size)
        numbers.append(text)
    return images, encode_numbers(numbers, max_digits=max_digits)
