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

The pieces: `glyphs` (characters as ink with per-character boxes), `scene_layers`
(plates, edges, clutter, the camera), `textures` (surfaces) and `fonts`; this module
composes them.

Image i depends only on (seed, i, split): the first n images of a larger set are
the n images of a smaller one. split "held_out" draws only fonts and backgrounds
that "train" never uses.
"""

import os

import numpy as np
from PIL import Image, ImageFilter

from kerasvhn.data import glyphs as glyph_ink
from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures
from kerasvhn.data.glyphs import LETTERS
from kerasvhn.data.parallel import parallel_map
from kerasvhn.checks import check_int
from kerasvhn.sequence import encode_numbers

#: Probabilities of 0, 1, ..., 6 digits (0: no number; 6 digits is the "more" class).
#: "train": long numbers far more frequent than on real streets, so that every digit
#: head sees enough examples. "svhn": the mix of SVHN's real training split (5,137 /
#: 18,130 / 8,691 / 1,434 / 9 / 1 numbers of 1 / 2 / 3 / 4 / 5 / 6 digits), what a
#: reader of real house numbers meets, with the same 5% of images without a number.
LENGTH_MIXES = {
    "train": (0.05, 0.16, 0.35, 0.28, 0.10, 0.05, 0.01),
    "svhn": (0.05, *(0.95 * n / 33_402 for n in (5_137, 18_130, 8_691, 1_434, 9, 1))),
}
#: The share of training frames that show a whole street photo (render_numbers).
PHOTO_SHARE = 0.15

SPLITS = ("train", "held_out")
_layout = glyph_ink.layout  # the number's own layout (tests spy on it; clutter has its own)
_SPLIT_CODE = {"train": 0, "held_out": 1}
_EXPAND = 0.30  # the paper's expansion of the digits' box, in x and in y


# ----------------------------------------------------------------------------- scenes


def _framing(rng, box, kind, photo_share=0.0):
    """The view around the digits' box (x0, y0, x1, y1), in the same coordinates.

    kind "frame": what a model is shown: the paper's 15% per side with annotation
    noise half the time, otherwise loose (up to a whole box width per side, the
    number off centre) or tight; then, with probability photo_share, a whole
    street photo instead (0.4 to 2 box widths left and right, 0.2 to 1.2 heights
    above and below: how real SVHN photos frame their numbers). kind "scene": the
    whole photo around the number.
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
        # Drawn only when asked for, so that photo_share=0 repeats the older frames.
        if photo_share and rng.random() < photo_share:
            sides = np.concatenate([rng.uniform(0.4, 2.0, size=2), rng.uniform(0.2, 1.2, size=2)])[[0, 2, 1, 3]]
    return (x0 - sides[0] * bw, y0 - sides[1] * bh, x1 + sides[2] * bw, y1 + sides[3] * bh)


def _compose(rng, split, length_probabilities, kind, photo_share=0.0):
    """Renders one image. Returns (uint8 image, number text, digit boxes in pixels)."""
    faces = glyph_ink.faces(split)
    family = faces[int(rng.integers(len(faces)))]
    glyphs = family[int(rng.integers(len(family)))]
    length = int(rng.choice(len(length_probabilities), p=length_probabilities))
    text = glyph_ink.number_text(rng, length)
    drawn = text
    if not text:  # no number: letters, or nothing but the surroundings
        drawn = "".join(rng.choice(list(LETTERS), size=int(rng.integers(1, 4)))) if rng.random() < 0.5 else ""

    contrast = rng.uniform(0.15, 0.3) if rng.random() < 0.25 else rng.uniform(0.3, 0.8)
    digit_colour = layers.pick_colour(rng)
    if drawn:
        ink, owner = _layout(rng, glyphs, drawn)
        ink_image, owner = glyph_ink.warp(rng, ink, owner)
        boxes = glyph_ink.char_boxes(ink_image, owner, len(drawn))
        union = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    else:
        ink_image, boxes = None, []
        union = (0.0, 0.0, 30.0 * rng.uniform(0.8, 3), 40.0)
    view = _framing(rng, union, kind, photo_share)
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
    base = layers.contrasting(rng, digit_colour, contrast)
    wall = layers.pick_colour(rng) if on_plate else base
    image = textures.surface(rng, wall, width, height, split)
    if rng.random() < 0.3:
        layers.edges(rng, image, box_px)
    if on_plate:
        base = layers.plate(rng, image, box_px, digit_colour, contrast, split)
    if rng.random() < 0.3:
        layers.clutter_text(rng, image, faces, box_px, layers.contrasting(rng, base, 0.2))
    if kind == "frame" and rng.random() < 0.2:
        layers.partial_digit(rng, image, glyphs, box_px, digit_height, digit_colour)

    if ink_image is not None:
        alpha = layers.resample(ink_image, view, width, height)
        style = rng.random()
        if style < 0.12:  # outlined
            wide = ink_image.filter(ImageFilter.MaxFilter(int(rng.choice([5, 7]))))
            outline = layers.contrasting(rng, digit_colour, 0.25)
            image = layers.blend(image, layers.resample(wide, view, width, height), outline)
        elif style < 0.27:  # drop shadow
            dx, dy = rng.uniform(0.03, 0.1, size=2) * digit_height * rng.choice([-1, 1], size=2)
            shadow = layers.shift(alpha, round(dx), round(dy))
            image = layers.blend(image, shadow * rng.uniform(0.4, 0.9), base * rng.uniform(0.1, 0.5))
        paint = digit_colour + rng.uniform(0, 0.15) * textures.ramp(rng, width, height)
        image = layers.blend(image, alpha, paint)
        if style > 0.75:  # embossed (raised, lit from above) or engraved (cut in)
            step = max(1, int(round(digit_height * rng.uniform(0.03, 0.07))))
            sign = 1 if style < 0.9 else -1
            light = np.clip(alpha - layers.shift(alpha, sign * step, sign * step), 0, 1)
            dark = np.clip(alpha - layers.shift(alpha, -sign * step, -sign * step), 0, 1)
            image = layers.blend(image, light * rng.uniform(0.3, 0.7), np.ones(3, np.float32))
            image = layers.blend(image, dark * rng.uniform(0.3, 0.7), np.zeros(3, np.float32))

    # Lighting: uneven illumination, a cast shadow, an overall exposure.
    image = image * (1 + rng.uniform(0, 0.5) * textures.ramp(rng, width, height))
    if rng.random() < 0.15:
        edge = textures.ramp(rng, width, height)[..., 0] * rng.uniform(3, 12) + rng.normal(0, 1)
        image = image * (1 - rng.uniform(0.2, 0.6) / (1 + np.exp(-edge)))[..., None]
    image = image * rng.uniform(0.7, 1.2)
    pixels = Image.fromarray(np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8))
    out = layers.camera(rng, pixels)
    digit_boxes = [to_px(b) for b in boxes] if text else []
    return out, text, digit_boxes


def _probabilities(max_digits, lengths="train"):
    mix = LENGTH_MIXES[lengths]
    longest = min(len(mix) - 1, max_digits + 1)
    p = np.array(mix[: longest + 1])
    return p / p.sum()


def _check_lengths(lengths):
    if lengths not in LENGTH_MIXES:
        raise ValueError(f"lengths must be one of {tuple(LENGTH_MIXES)}, got {lengths!r}")


def _rng(seed, index, split):
    return np.random.default_rng([seed, index, _SPLIT_CODE[split]])


def render_scene(index, seed=0, split="train", lengths="train"):
    """One synthetic street scene: (uint8 image (H, W, 3), number, digit boxes).

    Boxes are (left, top, width, height) floats, one per digit, in the image's
    pixels; the number has 1 to 6 digits, drawn from the `lengths` mix ("train"
    or "svhn", see LENGTH_MIXES).

    >>> from kerasvhn.data.synth import render_scene
    >>> image, number, boxes = render_scene(0, seed=1)
    >>> image.dtype, len(boxes) == len(number) > 0
    (dtype('uint8'), True)
    """
    _check_split(split)
    _check_lengths(lengths)
    rng = _rng(seed, index, split)
    p = np.array(LENGTH_MIXES[lengths][1:])
    p = np.concatenate([[0.0], p / p.sum()])
    image, text, boxes = _compose(rng, split, p, "scene")
    return image, text, [(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in boxes]


def _render_framed(task):
    index, seed, split, max_digits, size, lengths, photo_share = task
    rng = _rng(seed, index, split)
    image, text, _ = _compose(rng, split, _probabilities(max_digits, lengths), "frame", photo_share)
    image = Image.fromarray(image).resize((size, size), Image.BILINEAR)
    return np.asarray(image, np.uint8), text


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def render_numbers(count, seed=0, max_digits=5, size=64, split="train", workers=1, progress=False, *,
                   lengths="train", photo_share=PHOTO_SHARE):
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
        lengths: the mix of number lengths, "train" or "svhn" (LENGTH_MIXES).
        photo_share: the share of images framed like a whole street photo (the
            number small and off centre) rather than cropped around the number.

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
    count = check_int("count", count, 0)
    seed = check_int("seed", seed, 0)
    max_digits = check_int("max_digits", max_digits, 1)
    size = check_int("size", size, 16)
    workers = check_int("workers", workers, 1)
    _check_split(split)
    _check_lengths(lengths)
    if not 0 <= photo_share <= 1:
        raise ValueError(f"photo_share must be between 0 and 1, got {photo_share!r}")
    images = np.empty((count, size, size, 3), np.uint8)
    numbers = []
    tasks = [(i, seed, split, max_digits, size, lengths, photo_share) for i in range(count)]
    for i, (image, text) in enumerate(parallel_map(_render_framed, tasks, workers, progress, "render")):
        images[i] = image
        numbers.append(text)
    return images, encode_numbers(numbers, max_digits=max_digits)


def _write_scene(task):
    out, index, seed, split, lengths = task
    image, text, boxes = render_scene(index, seed, split, lengths)
    name = f"{index + 1}.png"
    Image.fromarray(image).save(os.path.join(out, name), compress_level=1)
    record = {"name": name, "label": [float(int(c) or 10) for c in text]}
    for key, column in (("left", 0), ("top", 1), ("width", 2), ("height", 3)):
        record[key] = [float(round(b[column])) for b in boxes]
    record["width"] = [max(1.0, w) for w in record["width"]]
    record["height"] = [max(1.0, h) for h in record["height"]]
    return record


def synthesize(out, count, seed=0, split="train", workers=None, progress=True, lengths="train"):
    """Writes an SVHN format-1 folder: out/1.png .. out/N.png and out/digitStruct.mat.

    Each PNG is a street scene; its digitStruct entry has one box per digit
    (label 10 for the digit 0, as in SVHN). `lengths` picks the mix of number
    lengths: "train" (long numbers frequent) or "svhn" (as on real streets).
    Returns the records written.

    >>> import tempfile
    >>> from kerasvhn.data import read_digitstruct, synthesize
    >>> folder = tempfile.mkdtemp()
    >>> records = synthesize(folder, 3, seed=0, progress=False)
    >>> [r["name"] for r in read_digitstruct(folder + "/digitStruct.mat").records()]
    ['1.png', '2.png', '3.png']
    """
    from kerasvhn.data.digitstruct_writer import write_digitstruct

    count = check_int("count", count, 1)
    seed = check_int("seed", seed, 0)
    _check_split(split)
    _check_lengths(lengths)
    os.makedirs(out, exist_ok=True)
    workers = workers or min(2, os.cpu_count() or 1)
    tasks = [(out, i, seed, split, lengths) for i in range(count)]
    records = list(parallel_map(_write_scene, tasks, workers, progress, "synth"))
    write_digitstruct(os.path.join(out, "digitStruct.mat"), records)
    return records
