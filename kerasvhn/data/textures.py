"""Surfaces behind synthetic house numbers: procedural walls and real photographs.

Procedural surfaces (gradients, blotches, siding stripes, grain) are cheap and
endless; crops of the real photographs and textures that scikit-image ships
(`skimage.data`: CC0 textures of brick, grass and gravel, and public-domain or CC0
photographs) bring the structure no formula imitates. Photographs are recoloured
towards the wall colour and their contrast lowered, so that they read as a
surface rather than as a picture. Some sources are held out of training
(HELD_OUT_PHOTOS) to measure how a model does on backgrounds it never saw.

>>> import numpy as np
>>> from kerasvhn.data.textures import surface
>>> rng = np.random.default_rng(0)
>>> surface(rng, np.array([0.6, 0.5, 0.4]), 40, 30, split="train").shape
(30, 40, 3)
"""

import functools

import numpy as np
from PIL import Image, ImageFilter

#: skimage.data images used as backgrounds (all CC0 or public domain; see their docs).
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
)

#: Backgrounds never used for training data.
HELD_OUT_PHOTOS = ("gravel", "clock", "rocket")


@functools.lru_cache(maxsize=None)
def _photos(split):
    """Float grey/RGB arrays in [0, 1] of the split's skimage images ((), when absent)."""
    try:
        import skimage.data
    except ImportError:  # backgrounds are then all procedural
        return ()
    names = [n for n in PHOTOS if (n in HELD_OUT_PHOTOS) == (split == "held_out") or split == "all"]
    images = []
    for name in names:
        try:
            array = np.asarray(getattr(skimage.data, name)())
        except Exception:  # an image missing from this scikit-image version
            continue
        if array.ndim == 2:
            array = array[..., None]
        images.append(array[..., :3].astype(np.float32) / 255.0)
    return tuple(images)


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


def _procedural(rng, colour, width, height):
    out = np.broadcast_to(colour.astype(np.float32), (height, width, 3)).copy()
    out += rng.uniform(0, 0.25) * ramp(rng, width, height)
    out += rng.uniform(0, 0.12) * smooth_noise(rng, width, height, int(rng.integers(3, 8)), 3)
    texture = rng.random()
    if texture < 0.3:  # stripes: siding, planks, rows of bricks, shutters
        period = rng.uniform(0.08, 0.3) * height
        theta = rng.choice([0.0, np.pi / 2]) + rng.normal(0, 0.08)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        phase = (np.cos(theta) * yy + np.sin(theta) * xx) * (2 * np.pi / period)
        stripes = np.sin(phase + rng.uniform(0, 2 * np.pi))
        if rng.random() < 0.5:
            stripes = np.sign(stripes) * np.abs(stripes) ** 0.2
        out += rng.uniform(0.03, 0.12) * stripes[..., None]
    elif texture < 0.6:  # grain: stucco, concrete, wood
        grain = rng.normal(128, 40, (height, width)).clip(0, 255).astype(np.uint8)
        grain = Image.fromarray(grain).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
        out += rng.uniform(0.05, 0.25) * (np.asarray(grain, np.float32)[..., None] / 128.0 - 1.0)
    return out


def _photo(rng, photos, colour, width, height):
    source = photos[int(rng.integers(len(photos)))]
    sh, sw = source.shape[:2]
    # A crop of random scale, then resized: the texture's grain varies with distance.
    scale = rng.uniform(0.15, 1.0)
    cw = max(8, int(sw * scale * rng.uniform(0.5, 1.0)))
    ch = max(8, int(min(sh, cw * height / max(width, 1) * rng.uniform(0.8, 1.25))))
    cw, ch = min(cw, sw), min(ch, sh)
    x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
    crop = source[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    channels = crop.shape[2]
    pixels = (crop[..., 0] if channels == 1 else crop) * 255 + 0.5
    image = Image.fromarray(pixels.astype(np.uint8)).resize((width, height), Image.BILINEAR)
    array = np.asarray(image, np.float32) / 255.0
    if channels == 1:
        array = array[..., None]
    grey = array.mean(axis=2, keepdims=True)
    keep_colour = rng.uniform(0, 0.6) if channels == 3 else 0.0
    detail = (1 - keep_colour) * (grey - grey.mean()) + keep_colour * (array - array.mean(axis=(0, 1)))
    strength = rng.uniform(0.25, 0.9)
    return colour.astype(np.float32) + strength * detail


def surface(rng, colour, width, height, split="train"):
    """A (height, width, 3) float surface of about the given RGB colour in [0, 1]:
    procedural or, about half the time, a recoloured crop of a real photograph."""
    photos = _photos(split)
    if photos and rng.random() < 0.5:
        return _photo(rng, photos, colour, width, height)
    return _procedural(rng, colour, width, height)
