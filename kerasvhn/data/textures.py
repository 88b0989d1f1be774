"""Surfaces behind synthetic house numbers: procedural walls and real photographs.

Procedural surfaces (gradients, blotches, siding, planks, brick and stone courses,
brushed metal, grain) are cheap and endless; crops of real photographs bring the
structure no formula imitates. The photographs are those that pip packages kerasvhn
depends on ship: scikit-image's `skimage.data` (CC0 textures of brick, grass and
gravel, and public-domain or CC0 photographs), matplotlib's sample photograph of
Grace Hopper (public domain, US Navy), and two CC BY 2.0 photographs from
scikit-learn's sample images that kerasvhn ships itself (`kerasvhn/data/photos/`,
credits in CREDITS.md). Photographs are recoloured towards the wall colour and their
contrast lowered, so that they read as a surface rather than as a picture. Some
sources and kinds of wall are held out of training (HELD_OUT_PHOTOS, HELD_OUT_WALLS)
to measure how a model does on backgrounds it never saw.

>>> import numpy as np
>>> from kerasvhn.data.textures import surface
>>> rng = np.random.default_rng(0)
>>> surface(rng, np.array([0.6, 0.5, 0.4]), 40, 30, split="train").shape
(30, 40, 3)
"""

import functools
import os

import numpy as np
from PIL import Image, ImageFilter

#: Photographs used as backgrounds: skimage.data names, "matplotlib:<sample file>" and
#: "kerasvhn:<file in kerasvhn/data/photos>".
PHOTOS = (
    "brick",
    "grass",
    "gravel",
    "coffee",
    "chelsea",
    "astronaut",
    "rocket",
    "camera",
    "coins",
    "text",
    "clock",
    "hubble_deep_field",
    "kerasvhn:china.jpg",
    "kerasvhn:flower.jpg",
    "matplotlib:grace_hopper.jpg",
)

#: Backgrounds never used for training data.
HELD_OUT_PHOTOS = ("gravel", "clock", "rocket", "kerasvhn:flower.jpg")
#: Procedural walls of each split: the held-out split draws only its own kinds.
WALLS = {"train": ("plain", "siding", "grain", "brick"), "held_out": ("plain", "grain", "stone")}
PHOTO_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "photos")


def _load_photo(name):
    """One photograph as a uint8 array; raises RuntimeError naming what is missing."""
    if name.startswith("kerasvhn:"):
        path = os.path.join(PHOTO_FOLDER, name.split(":", 1)[1])
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    if name.startswith("matplotlib:"):
        import matplotlib.cbook

        with Image.open(matplotlib.cbook.get_sample_data(name.split(":", 1)[1])) as image:
            return np.asarray(image.convert("RGB"))
    try:
        import skimage.data
    except ImportError as error:
        raise RuntimeError("scikit-image is needed for the synthetic backgrounds (pip install scikit-image): "
                           "without it the same seed would draw other images") from error
    return np.asarray(getattr(skimage.data, name)())


@functools.lru_cache(maxsize=None)
def _photos(split):
    """uint8 grey (H, W, 1) or RGB (H, W, 3) arrays of the split's photographs
    ("all": every one)."""
    names = [n for n in PHOTOS if (n in HELD_OUT_PHOTOS) == (split == "held_out") or split == "all"]
    images = []
    for name in names:
        array = _load_photo(name)
        if array.dtype != np.uint8:  # float images in [0, 1]
            array = np.clip(array * 255 + 0.5, 0, 255).astype(np.uint8)
        if array.ndim == 2:
            array = array[..., None]
        images.append(np.ascontiguousarray(array[..., :3]))
    return tuple(images)


@functools.lru_cache(maxsize=None)
def _photo_images(split):
    """The split's photographs as PIL images (L or RGB), for cropping and resizing."""
    return tuple(Image.fromarray(a[..., 0] if a.shape[2] == 1 else a) for a in _photos(split))


def smooth_noise(rng, width, height, cells, channels=1):
    """Low-frequency noise in [-1, 1]: a cells x cells grid upsampled bicubically."""
    grid = rng.uniform(0, 255, size=(cells, cells, channels)).astype(np.uint8)
    image = Image.fromarray(grid[..., 0] if channels == 1 else grid)
    up = np.asarray(image.resize((width, height), Image.BICUBIC), np.float32) / 127.5 - 1.0
    return up[..., None] if channels == 1 else up


def ramp(rng, width, height):
    """A linear ramp in about [-1, 1] along a random direction, (height, width, 1)."""
    theta = rng.uniform(0, 2 * np.pi)
    side = max(width, height)
    xs = np.linspace(-1, 1, side, dtype=np.float32)[:width] * (width / side)
    ys = np.linspace(-1, 1, side, dtype=np.float32)[:height] * (height / side)
    return (np.cos(theta) * xs[None, :] + np.sin(theta) * ys[:, None])[..., None]


def _procedural(rng, colour, width, height, split="train", kinds=None):
    out = np.broadcast_to(colour.astype(np.float32), (height, width, 3)).copy()
    out += rng.uniform(0, 0.25) * ramp(rng, width, height)
    out += rng.uniform(0, 0.12) * smooth_noise(rng, width, height, int(rng.integers(3, 8)), 3)
    allowed = WALLS["held_out" if split == "held_out" else "train"]
    if kinds is not None:
        allowed = [k for k in kinds if k in allowed] or allowed
    kind = allowed[int(rng.integers(len(allowed)))]
    if kind == "siding":  # stripes: siding, planks, shutters
        out += rng.uniform(0.03, 0.12) * stripes(rng, width, height)[..., None]
    elif kind == "grain":  # stucco, concrete, wood
        grain = rng.normal(128, 40, (height, width)).clip(0, 255).astype(np.uint8)
        grain = Image.fromarray(grain).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
        out += rng.uniform(0.05, 0.25) * (np.asarray(grain, np.float32)[..., None] / 128.0 - 1.0)
    elif kind in ("brick", "stone"):
        out = courses(rng, out, rng.uniform(0.1, 0.3) * height, stone=kind == "stone")
    return out


def stripes(rng, width, height, period=None, horizontal=None):
    """Siding, planks, shutters: (height, width) in about [-1, 1]."""
    period = rng.uniform(0.08, 0.3) * height if period is None else period
    if horizontal is None:
        horizontal = rng.random() < 0.5
    theta = (0.0 if horizontal else np.pi / 2) + rng.normal(0, 0.08)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = (np.cos(theta) * yy + np.sin(theta) * xx) * (2 * np.pi / period)
    wave = np.sin(phase + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:  # lap siding: a sharp shadow line under each board
        wave = np.sign(wave) * np.abs(wave) ** 0.2
    return wave


def courses(rng, surface_, course, stone=False):
    """Brick (running bond) or stone blocks (random lengths, held out) over a surface:
    per-block colour, mortar joints lighter or darker."""
    height, width = surface_.shape[:2]
    course = max(3.0, float(course))
    rows = int(height / course) + 2
    yy = np.arange(height, dtype=np.float32)[:, None] + rng.uniform(0, course)
    row = (yy // course).astype(np.int64)
    xx = np.arange(width, dtype=np.float32)[None, :]
    if stone:  # each row its own block lengths
        lengths = rng.uniform(1.2, 3.5, size=rows) * course
        offsets = rng.uniform(0, 1, size=rows) * lengths
    else:
        lengths = np.full(rows, rng.uniform(1.8, 2.4) * course)
        offsets = (np.arange(rows) % 2) * lengths / 2 + rng.uniform(0, lengths[0])
    shifted = xx + offsets[row]
    col = (shifted // lengths[row]).astype(np.int64)
    joint = max(1.0, course * rng.uniform(0.06, 0.14))
    mortar = ((yy % course) < joint) | ((shifted % lengths[row]) < joint)
    cells = (rows + 1, int(width / lengths.min()) + 3)
    spread = rng.uniform(0.03, 0.1)
    tone = rng.normal(0, spread, size=(*cells, 1)) + rng.normal(0, spread / 4, size=(*cells, 3))
    out = surface_ + tone[row % (rows + 1), col % tone.shape[1]].astype(np.float32)
    mortar_colour = np.clip(surface_.mean(axis=(0, 1)) + rng.choice([-1, 1]) * rng.uniform(0.1, 0.35), 0, 1)
    return np.where(mortar[..., None], mortar_colour.astype(np.float32), out)


def brushed(rng, colour, width, height):
    """Brushed or cast metal: streaks along one direction, a broad sheen."""
    streaks = rng.normal(128, 40, size=(height, max(2, width // 12))).clip(0, 255).astype(np.uint8)
    streaks = np.asarray(Image.fromarray(streaks).resize((width, height), Image.BICUBIC), np.float32) / 128 - 1
    out = colour.astype(np.float32) + rng.uniform(0.02, 0.08) * streaks[..., None]
    return out + rng.uniform(0.05, 0.3) * ramp(rng, width, height)


def _photo(rng, photos, colour, width, height):
    source = photos[int(rng.integers(len(photos)))]
    sw, sh = source.size
    # A crop of random scale, then resized: the texture's grain varies with distance.
    scale = rng.uniform(0.15, 1.0)
    cw = max(8, int(sw * scale * rng.uniform(0.5, 1.0)))
    ch = max(8, int(min(sh, cw * height / max(width, 1) * rng.uniform(0.8, 1.25))))
    cw, ch = min(cw, sw), min(ch, sh)
    x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
    image = source.resize((width, height), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    array = np.asarray(image, np.float32) * np.float32(1 / 255)
    colour_source = array.ndim == 3
    if not colour_source:
        array = array[..., None]
    grey = array.mean(axis=2, keepdims=True)
    keep_colour = rng.uniform(0, 0.6) if colour_source else 0.0
    detail = (1 - keep_colour) * (grey - grey.mean()) + keep_colour * (array - array.mean(axis=(0, 1)))
    strength = np.float32(rng.uniform(0.25, 0.9))
    return colour.astype(np.float32) + strength * detail


def surface(rng, colour, width, height, split="train", photo_share=0.5, kinds=None):
    """A (height, width, 3) float surface of about the given RGB colour in [0, 1]:
    procedural or, photo_share of the time, a recoloured crop of a real photograph.

    kinds: the procedural walls to choose from (among WALLS of the split; all of
    them when None): "plain", "siding", "grain", "brick", "stone".
    """
    if rng.random() < photo_share:
        return _photo(rng, _photo_images(split), colour, width, height)
    return _procedural(rng, colour, width, height, split, kinds)
