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
none (letters or nothing instead); 23 font families shipped with kerasvhn or
matplotlib (kerasvhn.data.fonts) plus drawn seven-segment and dot-matrix digits,
stroke weight changed, condensed or widened, sheared, rotated and seen in
perspective, uneven spacing; a mixture of styles, the kinds of house numbers real
photos show (kerasvhn.data.styles: flat digits on walls and plates, metal and slate
plaques lit from one side with screws, enamel plaques, ceramic tiles, cut digits
mounted on brick or siding with cast shadows, stick-on digits on glass, stencils,
backlit boxes, vertical numbers, building signs beside other text); walls of
procedural surfaces or real photographs (kerasvhn.data.textures); colour pairs of
low and high contrast; clutter: smaller text, door and window edges, partial
neighbouring digits cut by the crop; lighting gradients and cast shadows; then the
camera (kerasvhn.data.effects): frames that cut the first or last digit, SVHN-like
low resolution, defocus and motion blur, JPEG, sensor noise, and domain
randomisation of the colours. Styles and effects are keyword options of
`render_numbers`, `render_scene` and `synthesize` (weights and probabilities; 0
switches one off).

The pieces: `glyphs` (characters as ink with per-character boxes), `styles` (one
renderer per kind of house number), `scene_layers` (plates, relief, screws, edges,
clutter), `textures` (surfaces), `effects` (the camera) and `fonts`; this module
draws the number, frames it and composes them (`_compose`).

Every random draw of image i comes from (purpose, seed, i, split): `purpose` says
what the images are for (PURPOSES: training, validation, each evaluation split), so
no image drawn for an evaluation can replay one drawn for training, whatever seeds
are passed. The first n images of a larger set are the n images of a smaller one.
split "held_out" draws only fonts and backgrounds that "train" never uses.
"""

import os

import numpy as np
from PIL import Image

from kerasvhn.data import effects, fonts, styles
from kerasvhn.data import glyphs as glyph_ink
from kerasvhn.data import scene_layers as layers
from kerasvhn.data import textures
from kerasvhn.data.glyphs import LETTERS
from kerasvhn.data.parallel import parallel_map
from kerasvhn.checks import check_int
from kerasvhn.labels import encode_numbers

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
#: The generator's version: it changes whenever the same (purpose, seed, index, split)
#: and options draw another image (2: styles, effects, shipped fonts). Records of
#: written data (the demo's synth_settings.json) can carry it to notice stale folders.
GENERATOR_VERSION = 2
#: What images are drawn for, each its own random stream: "train" and "validation"
#: for training; "test" (`kerasvhn evaluate`, the demo's test/), "unseen" (the demo's
#: held-out fonts split), "all_lengths" (the demo's training mix of lengths) and
#: "benchmark" (the bench/ scripts' test sets) for evaluation.
PURPOSES = {"train": 1, "validation": 2, "test": 3, "unseen": 4, "all_lengths": 5, "benchmark": 6}
TRAINING_PURPOSES = ("train", "validation")
_layout = glyph_ink.layout  # the number's own layout (tests spy on it; clutter has its own)
_SPLIT_CODE = {"train": 0, "held_out": 1}
_EXPAND = 0.30  # the paper's expansion of the digits' box, in x and in y


# ----------------------------------------------------------------------------- scenes


def _framing(rng, box, kind, photo_share=0.0, cut=None, boxes=(), vertical=False):
    """The view around the digits' box (x0, y0, x1, y1), in the same coordinates.

    kind "frame": what a model is shown: the paper's 15% per side with annotation
    noise half the time, otherwise loose (up to a whole box width per side, the
    number off centre) or tight; then, with probability photo_share, a whole
    street photo instead (0.4 to 2 box widths left and right, 0.2 to 1.2 heights
    above and below: how real SVHN photos frame their numbers). kind "scene": the
    whole photo around the number. A tall box (a vertical number) is widened half
    the time towards a square, as a photo of it would be.

    cut: None, or the uniforms of an edge cut (`_edge_cut`, any kind), which
    replaces all of the above; boxes: the characters' boxes (for the cut).
    """
    if cut is not None and boxes:
        return _edge_cut(box, boxes, cut, vertical)
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
    view = (x0 - sides[0] * bw, y0 - sides[1] * bh, x1 + sides[2] * bw, y1 + sides[3] * bh)
    if bw < 0.5 * bh and rng.random() < 0.5:
        grow = (rng.uniform(0.5, 1.0) * (view[3] - view[1]) - (view[2] - view[0])) / 2
        view = (view[0] - max(grow, 0), view[1], view[2] + max(grow, 0), view[3])
    return view


#: An edge-cut frame keeps at least this share of its first and last characters: at
#: most EDGE_CUT of the end character's extent (width, or height for a vertical
#: number) falls outside. Partial neighbouring digits (never part of a number) show
#: at most 40%, so what is cut stays unlike what is clutter.
EDGE_CUT = 0.25


def _edge_cut(box, boxes, u, vertical):
    """A frame that ends at the number's first and last characters, cutting into one
    or both of them by up to EDGE_CUT of its extent, or touching them; tight across
    (2% to 30% of the box's height or width), as a phone photo of a plate that fills
    the frame. u: six uniforms in [0, 1)."""
    x0, y0, x1, y1 = box
    axis = 1 if vertical else 0
    first, last = boxes[0], boxes[-1]
    first_extent = first[axis + 2] - first[axis]
    last_extent = last[axis + 2] - last[axis]
    ends = "first" if u[0] < 0.35 else "last" if u[0] < 0.7 else "both"
    if len(boxes) == 1 and ends == "both":  # one character: both cuts together stay within EDGE_CUT
        u = (u[0], u[1] / 2, u[2] / 2, u[3], u[4])

    def inset(cut_here, amount, extent):  # > 0: the frame's edge lies inside the character
        return EDGE_CUT * amount * extent if cut_here else -0.08 * amount * extent

    start = inset(ends in ("first", "both"), u[1], first_extent)
    stop = inset(ends in ("last", "both"), u[2], last_extent)
    depth = box[3 - axis] - box[1 - axis]  # the box across the reading direction
    across = depth * (0.02 + 0.28 * u[3]), depth * (0.02 + 0.28 * u[4])
    if vertical:
        return (x0 - across[0], y0 + start, x1 + across[1], y1 - stop)
    return (x0 + start, y0 - across[0], x1 - stop, y1 + across[1])


def _draw_number(rng, length_probabilities):
    """The number (its label) and what is drawn: the number, or for images without
    one, letters or nothing."""
    length = int(rng.choice(len(length_probabilities), p=length_probabilities))
    text = glyph_ink.number_text(rng, length)
    drawn = text
    if not text:
        drawn = "".join(rng.choice(list(LETTERS), size=int(rng.integers(1, 4)))) if rng.random() < 0.5 else ""
    return text, drawn


def _look(rng, split, arrangement, drawn):
    """The face the number is drawn in: (glyph table, (family name, face index))."""
    if arrangement.fonts == "digital" and drawn.isdigit() and rng.random() < arrangement.digital_share:
        digital = glyph_ink.drawn_faces(split)
        k = int(rng.integers(len(digital)))
        return digital[k][1], (digital[k][0], k)
    faces, names = glyph_ink.faces(split), glyph_ink.family_names(split)
    candidates = list(range(len(faces)))
    if arrangement.fonts == "stencil":
        candidates = [i for i in candidates if names[i] in fonts.STENCIL_FAMILIES] or candidates
    family = candidates[int(rng.integers(len(candidates)))]
    face = int(rng.integers(len(faces[family])))
    return faces[family][face], (names[family], face)


def _ink(rng, glyphs, drawn, arrangement):
    """The drawn string's warped ink (an L image, None when nothing is drawn), its
    characters' boxes and their union, in the ink's pixels."""
    if not drawn:
        width = 30.0 * rng.uniform(0.8, 3)
        return None, [], (0.0, 0.0, width, 40.0 * (rng.uniform(1.5, 4) if arrangement.vertical else 1))
    ink, owner = _layout(rng, glyphs, drawn, tracking=arrangement.tracking, vertical=arrangement.vertical,
                         tabular=arrangement.tabular)
    if arrangement.stencil:
        ink = glyph_ink.stencil_gaps(rng, ink)
    ink_image, owner = glyph_ink.warp(rng, ink, owner)
    boxes = glyph_ink.char_boxes(ink_image, owner, len(drawn))
    union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    return ink_image, boxes, union


class _Frame:
    """The view (in ink pixels) a frame shows and its size in pixels."""

    __slots__ = ("view", "width", "height", "scale")

    def __init__(self, view, scale):
        vw, vh = view[2] - view[0], view[3] - view[1]
        self.view, self.scale = view, scale
        self.width, self.height = max(8, int(round(vw * scale))), max(8, int(round(vh * scale)))

    def to_px(self, b):
        """A box in ink pixels, in the frame's pixels."""
        v = self.view
        sx, sy = self.width / (v[2] - v[0]), self.height / (v[3] - v[1])
        return ((b[0] - v[0]) * sx, (b[1] - v[1]) * sy, (b[2] - v[0]) * sx, (b[3] - v[1]) * sy)


def _frame(rng, kind, photo_share, union, boxes, cut, vertical):
    """Where the camera looks and at what scale: the number 16 to 48 pixels high in
    a scene, the view 24 to 110 pixels high in a model's frame (a vertical number:
    each digit 16 to 48, or 12 to 42, pixels high)."""
    view = _framing(rng, union, kind, photo_share, cut, boxes, vertical)
    char = float(np.median([b[3] - b[1] for b in boxes])) if vertical and boxes else union[3] - union[1]
    if kind == "scene":
        scale = rng.uniform(16, 48) / char
    elif vertical:
        scale = rng.uniform(12, 42) / char
    else:
        scale = rng.uniform(24, 110) / (view[3] - view[1])
    return _Frame(view, scale)


def _light(rng, image):
    """Uneven illumination, sometimes a cast shadow's edge, an overall exposure."""
    height, width = image.shape[:2]
    image = image * (1 + rng.uniform(0, 0.5) * textures.ramp(rng, width, height))
    if rng.random() < 0.15:
        edge = textures.ramp(rng, width, height)[..., 0] * rng.uniform(3, 12) + rng.normal(0, 1)
        image = image * (1 - rng.uniform(0.2, 0.6) / (1 + np.exp(-edge)))[..., None]
    return image * rng.uniform(0.7, 1.2)


def _compose(rng, split, length_probabilities, kind, photo_share=0.0, trace=None, weights=None, chances=None):
    """Renders one image. Returns (uint8 image, number text, digit boxes in pixels).

    The order of the draws keeps ablations clean: the number first (the labels do
    not depend on the styles or effects asked for), then the fixed block of the
    effects' draws, then the style (one draw), then the scene.

    weights: the style mixture (styles.check_styles); chances: the effects'
    probabilities (effects.check_effects); trace: a dict to fill with the scene's
    main draws (number, font, colours, framing, scale, style, effects), to compare
    scenes without comparing pixels.
    """
    text, drawn = _draw_number(rng, length_probabilities)
    draws = effects.draw(rng, chances or effects.EFFECTS)
    style = styles.STYLES[styles.pick(rng, weights or styles.DEFAULT_WEIGHTS)]
    arrangement = style.arrange(rng, split)
    glyphs, font = _look(rng, split, arrangement, drawn)
    contrast = rng.uniform(0.15, 0.3) if rng.random() < 0.25 else rng.uniform(0.3, 0.8)
    digit_colour = layers.pick_colour(rng)
    ink, boxes, union = _ink(rng, glyphs, drawn, arrangement)
    cut = draws.uniforms["edge_cut"] if draws.happens("edge_cut") else None
    frame = _frame(rng, kind, photo_share, union, boxes, cut, arrangement.vertical)
    char_boxes = [frame.to_px(b) for b in boxes]
    canvas = styles.Canvas(frame.width, frame.height, frame.to_px(union), char_boxes, ink, frame.view, digit_colour,
                           contrast, split, glyph_ink.faces(split), glyphs, kind, arrangement.vertical)
    if trace is not None:
        trace.update(number=text, font=font, contrast=float(contrast), colour=tuple(float(c) for c in digit_colour),
                     view=tuple(float(v) for v in frame.view), scale=float(frame.scale), style=style.NAME,
                     effects=draws.applied())
    image = _light(rng, style.paint(rng, canvas))
    pixels = Image.fromarray(np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8))
    out = effects.camera(rng, pixels, canvas.char_height, draws)
    return out, text, [_clip(b, frame.width, frame.height) for b in char_boxes] if text else []


def _clip(box, width, height):
    """A box inside the image (an edge cut leaves part of a character outside)."""
    return (max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3]))


def _probabilities(max_digits, lengths="train"):
    mix = LENGTH_MIXES[lengths]
    longest = min(len(mix) - 1, max_digits + 1)
    p = np.array(mix[: longest + 1])
    return p / p.sum()


def _check_lengths(lengths):
    if lengths not in LENGTH_MIXES:
        raise ValueError(f"lengths must be one of {tuple(LENGTH_MIXES)}, got {lengths!r}")


def _rng(purpose, seed, index, split):
    return np.random.default_rng([PURPOSES[purpose], seed, index, _SPLIT_CODE[split]])


def _check_purpose(purpose):
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {tuple(PURPOSES)}, got {purpose!r}")


def stream(purpose, seed, split="train", count=None, **settings):
    """A record of the images drawn from one random stream: what models carry in
    `training_streams` and evaluations check against (`check_unseen`)."""
    _check_purpose(purpose)
    _check_split(split)
    return {"purpose": purpose, "seed": int(seed), "split": split, "count": count, **settings}


def check_unseen(training_streams, purpose, seed, split="train"):
    """Raises ValueError when images of (purpose, seed, split) may be ones a model
    trained on.

    training_streams: the model's record (`MultiDigitNet.training_streams`), None
    when unknown (or holding {"purpose": "unknown"}: weights trained further from
    unrecorded ones); then the training purposes are refused, since evaluation
    purposes are never drawn for training.

    >>> check_unseen([stream("train", 0)], "test", 0)
    >>> check_unseen([stream("train", 0)], "train", 0)
    Traceback (most recent call last):
    ...
    ValueError: the model was trained on these images (purpose 'train', seed 0, split 'train'): ...
    """
    _check_purpose(purpose)
    where = f"purpose {purpose!r}, seed {seed}, split {split!r}"
    evaluation = ", ".join(name for name in PURPOSES if name not in TRAINING_PURPOSES)
    hint = f"evaluate on images drawn for evaluation instead (purpose {evaluation})"
    if training_streams is None or any(used.get("purpose") == "unknown" for used in training_streams):
        if purpose in TRAINING_PURPOSES:
            raise ValueError(f"this model does not record all it was trained on, and {where} is a training "
                             f"stream; {hint}")
        training_streams = training_streams or []
    for used in training_streams:
        if (used.get("purpose"), used.get("seed"), used.get("split", "train")) == (purpose, seed, split):
            raise ValueError(f"the model was trained on these images ({where}): {hint}")


def render_scene(index, seed=0, split="train", lengths="train", *, purpose, trace=None, styles=None,
                 effects=None):
    """One synthetic street scene: (uint8 image (H, W, 3), number, digit boxes).

    Boxes are (left, top, width, height) floats, one per digit, in the image's
    pixels (inside the image: a digit an edge cut crosses gets the visible part);
    the number has 1 to 6 digits, drawn from the `lengths` mix ("train" or "svhn",
    see LENGTH_MIXES). `purpose` (one of PURPOSES) picks the random stream;
    `trace`, a dict, receives the scene's main draws; `styles` and `effects` as in
    `render_numbers`.

    >>> from kerasvhn.data.synth import render_scene
    >>> image, number, boxes = render_scene(0, seed=1, purpose="test")
    >>> image.dtype, len(boxes) == len(number) > 0
    (dtype('uint8'), True)
    >>> trace = {}
    >>> _ = render_scene(0, seed=1, purpose="test", styles="vertical", trace=trace)
    >>> trace["style"]
    'vertical'
    """
    _check_split(split)
    _check_lengths(lengths)
    _check_purpose(purpose)
    weights, chances = _check_looks(styles, effects)
    return _scene(index, seed, split, lengths, purpose, trace, weights, chances)


def _scene(index, seed, split, lengths, purpose, trace, weights, chances):
    """render_scene with checked arguments (weights and chances as checked)."""
    rng = _rng(purpose, seed, index, split)
    p = np.array(LENGTH_MIXES[lengths][1:])
    p = np.concatenate([[0.0], p / p.sum()])
    image, text, boxes = _compose(rng, split, p, "scene", 0.0, trace, weights, chances)
    return image, text, [(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in boxes]


def _check_looks(styles_, effects_):
    """The style weights and effect probabilities from what a caller passed."""
    return styles.check_styles(styles_), effects.check_effects(effects_)


def _render_framed(task):
    index, purpose, seed, split, max_digits, size, lengths, photo_share, weights, chances = task
    rng = _rng(purpose, seed, index, split)
    trace = {}
    image, text, _ = _compose(rng, split, _probabilities(max_digits, lengths), "frame", photo_share, trace, weights,
                              chances)
    image = Image.fromarray(image).resize((size, size), Image.BILINEAR)
    return np.asarray(image, np.uint8), text, trace


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def render_numbers(count, seed=0, max_digits=5, size=64, split="train", workers=1, progress=False, *,
                   purpose, lengths="train", photo_share=PHOTO_SHARE, traces=None, styles=None, effects=None):
    """Renders `count` framed synthetic house numbers and their labels, in memory.

    Args:
        count: the number of images.
        seed: a non-negative int; image i depends only on (purpose, seed, i, split).
        max_digits: the labels' number of digit positions; longer numbers (at
            most max_digits + 1 digits) get the "more" length class.
        size: the side of the square images (64, as the paper's crops).
        split: "train", or "held_out" for fonts and backgrounds training never sees.
        workers: processes to render in (2 on these machines halves the time).
        progress: show a progress bar.
        purpose: what the images are for, one of PURPOSES ("train", "validation",
            "test", ...): each purpose draws from its own random stream, so images
            drawn for an evaluation never repeat training images, whatever the seed.
        lengths: the mix of number lengths, "train" or "svhn" (LENGTH_MIXES).
        photo_share: the share of images framed like a whole street photo (the
            number small and off centre) rather than cropped around the number.
        traces: a list to extend with each image's main draws (number, font,
            colours, framing, scale, style, effects applied), for comparing sets
            of images.
        styles: the kinds of house numbers (kerasvhn.data.styles): None (default
            weights), a name (that style alone), a list of names, or a dict of
            weights over the defaults (`{"metal_plate": 2, "stencil": 0}`: 0 is off).
        effects: probabilities over the defaults of the camera and photo effects
            (kerasvhn.data.effects.EFFECTS): `{"domain": 0}` switches domain
            randomisation off. The labels depend on neither styles nor effects.

    Returns:
        (images, labels): uint8 (count, size, size, 3) and `{"length", "digits"}`
        as made by `kerasvhn.encode_numbers` (length 0: no number in the image).

    >>> from kerasvhn import labels_to_numbers
    >>> from kerasvhn.data import render_numbers
    >>> images, labels = render_numbers(6, seed=0, purpose="train")
    >>> images.shape, images.dtype, labels["digits"].shape
    ((6, 64, 64, 3), dtype('uint8'), (6, 5))
    >>> labels_to_numbers(labels) == labels_to_numbers(render_numbers(6, seed=0, purpose="train")[1])
    True
    """
    count = check_int("count", count, 0)
    seed = check_int("seed", seed, 0)
    max_digits = check_int("max_digits", max_digits, 1)
    size = check_int("size", size, 16)
    workers = check_int("workers", workers, 1)
    _check_split(split)
    _check_lengths(lengths)
    _check_purpose(purpose)
    if not 0 <= photo_share <= 1:
        raise ValueError(f"photo_share must be between 0 and 1, got {photo_share!r}")
    weights, chances = _check_looks(styles, effects)
    images = np.empty((count, size, size, 3), np.uint8)
    numbers = []
    tasks = [(i, purpose, seed, split, max_digits, size, lengths, photo_share, weights, chances) for i in range(count)]
    for i, (image, text, trace) in enumerate(parallel_map(_render_framed, tasks, workers, progress, "render")):
        images[i] = image
        numbers.append(text)
        if traces is not None:
            traces.append(trace)
    return images, encode_numbers(numbers, max_digits=max_digits)


def _write_scene(task):
    out, index, purpose, seed, split, lengths, weights, chances = task
    image, text, boxes = _scene(index, seed, split, lengths, purpose, None, weights, chances)
    name = f"{index + 1}.png"
    Image.fromarray(image).save(os.path.join(out, name), compress_level=1)
    record = {"name": name, "label": [float(int(c) or 10) for c in text]}
    for key, column in (("left", 0), ("top", 1), ("width", 2), ("height", 3)):
        record[key] = [float(round(b[column])) for b in boxes]
    record["width"] = [max(1.0, w) for w in record["width"]]
    record["height"] = [max(1.0, h) for h in record["height"]]
    return record


def synthesize(out, count, seed=0, split="train", workers=None, progress=True, lengths="train", *, purpose,
               styles=None, effects=None):
    """Writes an SVHN format-1 folder: out/1.png .. out/N.png and out/digitStruct.mat.

    Each PNG is a street scene; its digitStruct entry has one box per digit
    (label 10 for the digit 0, as in SVHN). `lengths` picks the mix of number
    lengths: "train" (long numbers frequent) or "svhn" (as on real streets);
    `purpose` (one of PURPOSES) what the folder is for: a "test" folder never
    repeats a "train" folder's scenes, whatever their seeds; `styles` and
    `effects` as in `render_numbers`. Returns the records written.

    >>> import tempfile
    >>> from kerasvhn.data import read_digitstruct, synthesize
    >>> folder = tempfile.mkdtemp()
    >>> records = synthesize(folder, 3, seed=0, progress=False, purpose="test")
    >>> [r["name"] for r in read_digitstruct(folder + "/digitStruct.mat").records()]
    ['1.png', '2.png', '3.png']
    """
    from kerasvhn.data.digitstruct_writer import write_digitstruct

    count = check_int("count", count, 1)
    seed = check_int("seed", seed, 0)
    _check_split(split)
    _check_lengths(lengths)
    _check_purpose(purpose)
    weights, chances = _check_looks(styles, effects)
    os.makedirs(out, exist_ok=True)
    workers = workers or min(2, os.cpu_count() or 1)
    tasks = [(out, i, purpose, seed, split, lengths, weights, chances) for i in range(count)]
    records = list(parallel_map(_write_scene, tasks, workers, progress, "synth"))
    write_digitstruct(os.path.join(out, "digitStruct.mat"), records)
    return records
