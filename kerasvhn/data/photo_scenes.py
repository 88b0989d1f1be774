"""Whole synthetic photos for the number localiser: doors, facades, walls, gates and
mailboxes with 0 to 3 house numbers, other text, and a box around each number.

`render_photo(index, seed, purpose=...)` draws one photo (320 to 640 pixels on its
long side by default) and returns it with its house numbers and their boxes (the
union of each number's digit boxes, as SVHN's boxes are; `kerasvhn.framing.crop_box`
expands it by the paper's 30%).

How a photo is made. Every scene is laid out in metres (a door about 0.9 m wide and
2.1 m high, windows with sills at 0.9 m, storeys of 3 m, a ground line, a roof line,
fences of 0.8 to 1.4 m) and photographed at a scale set by the first number: its width
is drawn log-uniformly between 2% and 60% of the photo's width (WIDTH_SHARE) and its
digits' physical height between 5 and 30 cm, which fixes the pixels per metre and so
the size of everything else. The number sits where house numbers sit (on the door, above
it, beside it on the wall, on a gate pillar, on a mailbox, on a building sign) and the
camera frames it anywhere in the photo. Kinds of photo (KINDS): a door and its
surroundings, a facade with windows and a roof, a stretch of wall with signs and notices,
a gate with pillars and a fence, a mailbox on a post in front of a lawn.

The numbers themselves are painted by the house-number styles of kerasvhn.data.styles
(plates, plaques, enamel, tiles, mounted digits, glass, stencils, vertical numbers,
building signs) directly on the photo's own surface (`Canvas.ground`), so that a
number is never a pasted rectangle. A quarter of them (SPACED_SHARE) are spread apart,
as many real plates and door numbers are: fixed-pitch rows with wide cells, or stacks
with wide gaps. What is not a house number, and so gets no box:
street-name signs, shop and department signs, notices and posters, phone numbers and
other digits inside a line of letters at the letters' size ("TEL 0412345678", "ROOM
214", "LEVEL 2"): a house number stands on its own, on its plate, door, wall or post,
or is the largest text of its sign. Scenes without any house number make up 15%
(NUMBER_COUNTS), half of them with a street sign up close.

Then the photo as a camera takes it: uneven light and cast shadows, a slight rotation
and perspective (boxes follow: each digit box's corners are mapped and the union of
their bounds kept), blur, resampling, JPEG, noise, and now and then colours no real
photo has (domain randomisation).

Every random draw of photo i comes from (purpose, seed, i, split), in a stream of its
own (never one of `synth`'s): a "test" photo never replays a "train" one, whatever the
seeds. split "held_out" draws only the fonts, backgrounds, plate finishes and walls
that "train" never uses.

>>> from kerasvhn.data.photo_scenes import render_photo
>>> photo = render_photo(0, seed=1, purpose="test")
>>> photo.image.dtype, max(photo.image.shape[:2]) <= 640, len(photo.numbers) == len(photo.boxes)
(dtype('uint8'), True, True)
"""

import io
import math
import time
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFilter

from kerasvhn.checks import check_int
from kerasvhn.data import effects, styles, synth, textures
from kerasvhn.data import glyphs as glyph_ink
from kerasvhn.data import scene_layers as layers
from kerasvhn.data.parallel import parallel_map
from kerasvhn.data.styles.canvas import Canvas

#: Kinds of photo and their shares.
KINDS = {"door": 0.35, "facade": 0.25, "wall": 0.2, "gate": 0.1, "mailbox": 0.1}
#: Probabilities of 0, 1, 2 and 3 house numbers in a photo.
NUMBER_COUNTS = (0.15, 0.62, 0.17, 0.06)
#: Probabilities of 1 to 5 digits (about real SVHN's mix, a few 5-digit numbers).
LENGTHS = (0.15, 0.38, 0.31, 0.13, 0.03)
#: The first number's width as a share of the photo's width: log-uniform in this range.
WIDTH_SHARE = (0.02, 0.6)
#: The height of house-number digits in the world, metres.
DIGIT_METRES = (0.05, 0.3)
#: The least height of a number's characters in a photo, pixels (smaller is unreadable).
MIN_CHAR_PIXELS = 5.0
#: The photo's long side in pixels (a range: drawn uniformly) and its aspect ratios.
LONG_SIDE = (320, 640)
ASPECTS = (4 / 3, 3 / 4, 1.0, 16 / 9, 9 / 16, 3 / 2, 2 / 3)
#: House-number styles in photos: the defaults, without the backlit box (its dusk
#: darkens the wall around it, which in a whole photo shows as a dark rectangle).
STYLE_WEIGHTS = {**styles.DEFAULT_WEIGHTS, "lightbox": 0.0}
#: The probabilities of the camera's effects on a whole photo.
CAMERA = {"perspective": 0.5, "blur": 0.5, "motion_blur": 0.08, "resample": 0.3, "jpeg": 0.5, "noise": 0.7,
          "domain": 0.05}

#: How often a number's digits are spread apart, as on many real plates and doors: a
#: row in fixed-pitch (tabular) figures, each digit centred in a cell TABULAR_TRACKING
#: times the widest digit's advance (a "1" then stands well apart), or a stack with gaps
#: of STACK_GAP times a digit's height.
SPACED_SHARE = 0.25
TABULAR_TRACKING = (1.0, 1.8)
STACK_GAP = (0.3, 0.9)

#: The generator's version: it changes whenever the same (purpose, seed, index, split)
#: draws another photo (2: spaced numbers).
VERSION = 2

_STREAM = 7  # the photos' own random streams: (purpose, seed, index, split, _STREAM)
_CONSONANTS = "BCDFGHKLMNPRSTVWXZ"
_VOWELS = "AEUY"
_STREET_SUFFIXES = ("ST", "AVE", "RD", "LN", "DR", "CT", "PL", "WAY", "STR")
_DOOR_COLOURS = ((0.08, 0.22, 0.14), (0.45, 0.06, 0.06), (0.08, 0.12, 0.3), (0.05, 0.05, 0.05), (0.92, 0.92, 0.9),
                 (0.4, 0.26, 0.14), (0.25, 0.16, 0.09), (0.55, 0.55, 0.52), (0.6, 0.45, 0.55), (0.2, 0.35, 0.4))
_TRIM_COLOURS = ((0.93, 0.93, 0.9), (0.85, 0.82, 0.74), (0.3, 0.2, 0.12), (0.15, 0.15, 0.15), (0.6, 0.6, 0.58))


class Photo(NamedTuple):
    """A synthetic photo and its house numbers.

    image: uint8 (H, W, 3); numbers: the house numbers, one string each; boxes: each
    number's box (left, top, width, height) in pixels, the union of its digits' boxes;
    digit_boxes: per number, one (left, top, width, height) per digit; kind: the kind of
    scene (KINDS).
    """

    image: np.ndarray
    numbers: list
    boxes: list
    digit_boxes: list
    kind: str


def _rng(purpose, seed, index, split):
    return np.random.default_rng([synth.PURPOSES[purpose], seed, index, synth._SPLIT_CODE[split], _STREAM])


def render_photo(index, seed=0, split="train", *, purpose, long_side=LONG_SIDE, kinds=None):
    """One synthetic photo with its house numbers (a `Photo`).

    Args:
        index, seed: photo `index` of the stream `seed` (non-negative ints).
        split: "train", or "held_out" for fonts and backgrounds training never sees.
        purpose: what the photo is for (synth.PURPOSES: "train", "validation",
            "test", ...); each purpose is a random stream of its own.
        long_side: the photo's long side in pixels, or a (low, high) range.
        kinds: None (KINDS' shares), a kind's name, or a dict of shares.

    >>> photo = render_photo(3, seed=0, purpose="test", long_side=320, kinds="door")
    >>> max(photo.image.shape[:2]), photo.kind
    (320, 'door')
    """
    check_int("index", index, 0)
    check_int("seed", seed, 0)
    synth._check_split(split)
    synth._check_purpose(purpose)
    return _photo(_rng(purpose, seed, index, split), split, _long_side_range(long_side), _kind_shares(kinds))


def _long_side_range(long_side):
    low, high = (long_side, long_side) if isinstance(long_side, (int, np.integer)) else long_side
    check_int("long_side", low, 64)
    check_int("long_side", high, low)
    return int(low), int(high)


def _kind_shares(kinds):
    if kinds is None:
        return dict(KINDS)
    if isinstance(kinds, str):
        kinds = {kinds: 1.0}
    for name, share in kinds.items():
        if name not in KINDS:
            raise ValueError(f"kinds must be among {tuple(KINDS)}, got {name!r}")
        if not share >= 0:
            raise ValueError(f"kind shares must be >= 0, got {name}={share!r}")
    if not sum(kinds.values()) > 0:
        raise ValueError("kind shares must not all be 0")
    return {name: float(kinds.get(name, 0.0)) for name in KINDS}


def _choice(rng, shares):
    """One key of a dict of shares (a single uniform draw)."""
    u, total = rng.random() * sum(shares.values()), 0.0
    chosen = None
    for name, share in shares.items():
        if share <= 0:
            continue
        chosen, total = name, total + share
        if u < total:
            break
    return chosen


# ----------------------------------------------------------------------------- the photo


class _Number:
    """One house number before it is painted: its text, style, face and ink."""

    __slots__ = ("text", "style", "glyphs", "ink", "boxes", "union", "vertical", "contrast", "metres")

    def __init__(self, rng, split, text):
        self.text = text
        self.style = styles.STYLES[styles.pick(rng, STYLE_WEIGHTS)]
        arrangement = self.style.arrange(rng, split)
        if rng.random() < SPACED_SHARE:
            _spread(rng, arrangement)
        self.vertical = arrangement.vertical
        self.glyphs, _ = synth._look(rng, split, arrangement, text)
        self.ink, self.boxes, self.union = synth._ink(rng, self.glyphs, text, arrangement)
        self.contrast = rng.uniform(0.15, 0.3) if rng.random() < 0.2 else rng.uniform(0.3, 0.8)
        self.metres = rng.uniform(*DIGIT_METRES)  # the digits' height in the world

    def char_height(self):
        """One character's height in ink pixels."""
        if self.vertical:
            return float(np.median([b[3] - b[1] for b in self.boxes]))
        return self.union[3] - self.union[1]


def _spread(rng, arrangement):
    """Spreads a number's digits apart (SPACED_SHARE): tabular figures in a row, wide
    gaps in a stack."""
    if arrangement.vertical:
        arrangement.tracking = 1.0 + rng.uniform(*STACK_GAP)
    else:
        arrangement.tabular = True
        arrangement.tracking = rng.uniform(*TABULAR_TRACKING)


class _Camera:
    """World metres (x to the right, z up from the ground) to photo pixels."""

    __slots__ = ("ppm", "left", "top", "width", "height")

    def __init__(self, ppm, left, top, width, height):
        self.ppm, self.left, self.top, self.width, self.height = ppm, left, top, width, height

    def rect(self, x0, z0, x1, z1):
        """A world rectangle (x0 < x1, z0 < z1) as pixels (x0, y0, x1, y1)."""
        p = self.ppm
        return ((x0 - self.left) * p, (self.top - z1) * p, (x1 - self.left) * p, (self.top - z0) * p)

    def x(self, x):
        return (x - self.left) * self.ppm

    def y(self, z):
        return (self.top - z) * self.ppm

    def visible(self, rect, margin=0.0):
        x0, y0, x1, y1 = rect
        return x1 > -margin and y1 > -margin and x0 < self.width + margin and y0 < self.height + margin


def _photo(rng, split, long_side, kinds):
    kind = _choice(rng, kinds)
    long = int(rng.integers(long_side[0], long_side[1] + 1))
    aspect = ASPECTS[int(rng.integers(len(ASPECTS)))]
    if aspect >= 1:
        width, height = long, max(32, int(round(long / aspect)))
    else:
        width, height = max(32, int(round(long * aspect))), long
    count = int(rng.choice(len(NUMBER_COUNTS), p=NUMBER_COUNTS))
    texts = [glyph_ink.number_text(rng, 1 + int(rng.choice(len(LENGTHS), p=LENGTHS))) for _ in range(count)]
    for k in range(1, count):  # the same number twice (a door and its mailbox) or a neighbour's
        if rng.random() < 0.35:
            texts[k] = texts[0]
    numbers = [_Number(rng, split, text) for text in texts]
    world = _World(rng, kind)
    camera = _frame(rng, world, numbers[0] if numbers else None, width, height)
    image = world.paint(rng, camera, split)
    placed = _place_numbers(rng, world, camera, numbers)
    world.paint_signs(rng, image, camera, split, [rect for _, rect, _ in placed], empty=not numbers)
    found = []
    for number, rect, scale in placed:
        boxes = _paint_number(rng, split, image, number, rect, scale)
        found.append((number.text, boxes))
    world.paint_foreground(rng, image, camera, split, [_grow(rect, 0.3 * (rect[3] - rect[1])) for _, rect, _ in placed])
    pixels, found = _camera_effects(rng, _light(rng, image), found)
    numbers_out, boxes_out, digits_out = [], [], []
    for text, boxes in found:
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        numbers_out.append(text)
        boxes_out.append((x0, y0, x1 - x0, y1 - y0))
        digits_out.append([(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in boxes])
    return Photo(pixels, numbers_out, boxes_out, digits_out, kind)


def _frame(rng, world, number, width, height):
    """The camera: its scale from the first number's size (or the scene's when there is
    none), placed so that the number lies anywhere inside the photo."""
    if number is None:
        ppm = width / rng.uniform(1.2, 14.0)  # from a close-up of a sign to a whole facade
        x, z = world.host_point(rng, "any", 0.5, 0.5)
        left = x - rng.uniform(0.2, 0.8) * width / ppm
        top = z + rng.uniform(0.2, 0.8) * height / ppm
        return _Camera(ppm, left, top, width, height)
    share = math.exp(rng.uniform(math.log(WIDTH_SHARE[0]), math.log(WIDTH_SHARE[1])))
    u = number.union
    ink_w, ink_h = u[2] - u[0], u[3] - u[1]
    scale = max(share * width / ink_w, MIN_CHAR_PIXELS / number.char_height())  # photo pixels per ink pixel
    scale = min(scale, 0.92 * height / ink_h, 0.92 * width / ink_w)
    ppm = scale * number.char_height() / number.metres
    w_m, h_m = ink_w * scale / ppm, ink_h * scale / ppm
    x, z = world.host_point(rng, world.host, w_m, h_m)
    # The number's top-left corner in pixels: anywhere that keeps it inside the photo.
    px = rng.uniform(1, max(1.5, width - ink_w * scale - 1))
    py = rng.uniform(1, max(1.5, height - ink_h * scale - 1))
    left, top = x - w_m / 2 - px / ppm, z + h_m / 2 + py / ppm
    camera = _Camera(ppm, left, top, width, height)
    world.first = (x, z, w_m, h_m)
    return camera


def _place_numbers(rng, world, camera, numbers):
    """Where each number goes: (number, its ink union's rect in pixels, pixels per ink
    pixel). The first is where the camera framed it; the others on other hosts in view,
    never overlapping one placed before (a number that finds no room is left out)."""
    placed = []
    for k, number in enumerate(numbers):
        u = number.union
        ink_w, ink_h = u[2] - u[0], u[3] - u[1]
        scale = camera.ppm * number.metres / number.char_height()
        if k == 0:
            x, z, w_m, h_m = world.first
            scale = w_m * camera.ppm / ink_w
        else:
            w_m, h_m = ink_w * scale / camera.ppm, ink_h * scale / camera.ppm
            too_small = number.char_height() * scale < MIN_CHAR_PIXELS
            if too_small or w_m * camera.ppm > 0.8 * camera.width or h_m * camera.ppm > 0.8 * camera.height:
                continue
            x, z = world.host_point(rng, "other", w_m, h_m)
        rect = camera.rect(x - w_m / 2, z - h_m / 2, x + w_m / 2, z + h_m / 2)
        inside = rect[0] >= 1 and rect[1] >= 1 and rect[2] <= camera.width - 1 and rect[3] <= camera.height - 1
        if k > 0 and not inside:  # try once more anywhere in view on the wall
            x = camera.left + rng.uniform(0.05, 0.95) * camera.width / camera.ppm
            z = camera.top - rng.uniform(0.05, 0.95) * camera.height / camera.ppm
            rect = camera.rect(x - w_m / 2, z - h_m / 2, x + w_m / 2, z + h_m / 2)
            inside = rect[0] >= 1 and rect[1] >= 1 and rect[2] <= camera.width - 1 and rect[3] <= camera.height - 1
        room = _grow(rect, 0.6 * (rect[3] - rect[1]) + 2)
        if k > 0 and (not inside or any(_overlap(room, _grow(other, 0.6 * (other[3] - other[1]) + 2))
                                        for _, other, _ in placed)):
            continue
        placed.append((number, rect, scale))
    return placed


def _paint_number(rng, split, image, number, rect, scale):
    """Paints a number with its style on the photo itself; returns its digits' boxes
    (x0, y0, x1, y1) in pixels."""
    height, width = image.shape[:2]
    u = number.union
    h = number.char_height() * scale
    grow = np.array([1.4, 1.2, 1.4, 1.2])
    if number.style.NAME == "sign":  # a strip of words below or words after the number
        grow = np.array([1.4, 1.2, 7.0, 3.0])
    x0, y0 = max(0, int(math.floor(rect[0] - grow[0] * h))), max(0, int(math.floor(rect[1] - grow[1] * h)))
    x1, y1 = min(width, int(math.ceil(rect[2] + grow[2] * h))), min(height, int(math.ceil(rect[3] + grow[3] * h)))
    view = (u[0] + (x0 - rect[0]) / scale, u[1] + (y0 - rect[1]) / scale,
            u[0] + (x1 - rect[0]) / scale, u[1] + (y1 - rect[1]) / scale)

    def to_px(b):
        return ((b[0] - view[0]) * scale, (b[1] - view[1]) * scale, (b[2] - view[0]) * scale,
                (b[3] - view[1]) * scale)

    ground = image[y0:y1, x0:x1]
    middle = np.median(ground.reshape(-1, 3), axis=0).astype(np.float32)
    digit_colour = layers.contrasting(rng, middle, number.contrast)
    canvas = Canvas(x1 - x0, y1 - y0, to_px(u), [to_px(b) for b in number.boxes], number.ink, view, digit_colour,
                    number.contrast, split, glyph_ink.faces(split), number.glyphs, "scene", number.vertical,
                    ground=ground.copy())
    image[y0:y1, x0:x1] = np.clip(number.style.paint(rng, canvas), 0, 1)
    return [(b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0) for b in map(to_px, number.boxes)]


def _grow(rect, by):
    return (rect[0] - by, rect[1] - by, rect[2] + by, rect[3] + by)


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# ----------------------------------------------------------------------------- the world


class _World:
    """A scene in metres: the wall and its openings, the ground, the sky, a fence, a
    mailbox; where a house number can be (host_point); painted through a camera."""

    def __init__(self, rng, kind):
        self.kind = kind
        self.first = None
        self.wall_colour = layers.pick_colour(rng) if rng.random() < 0.4 else np.array(
            [(0.62, 0.3, 0.22), (0.85, 0.82, 0.75), (0.75, 0.7, 0.6), (0.55, 0.55, 0.55), (0.9, 0.9, 0.88),
             (0.45, 0.25, 0.2), (0.7, 0.55, 0.4)][int(rng.integers(7))], np.float32) + rng.normal(0, 0.03, 3)
        self.wall_colour = np.clip(self.wall_colour, 0, 1).astype(np.float32)
        self.steps = rng.uniform(0.15, 0.6) if rng.random() < 0.4 else 0.0
        self.door_w = rng.uniform(0.8, 1.1) * (1.7 if rng.random() < 0.1 else 1.0)
        self.door_h = rng.uniform(2.0, 2.4)
        self.has_door = kind in ("door", "facade") or (kind != "mailbox" and rng.random() < 0.4)
        self.door_colour = np.clip(np.array(_DOOR_COLOURS[int(rng.integers(len(_DOOR_COLOURS)))], np.float32)
                                   + rng.normal(0, 0.04, 3).astype(np.float32), 0, 1)
        self.trim_colour = np.array(_TRIM_COLOURS[int(rng.integers(len(_TRIM_COLOURS)))], np.float32)
        self.trim = rng.uniform(0.05, 0.15)
        storeys = int(rng.integers(1, 4))
        self.roof = storeys * rng.uniform(2.8, 3.3) + rng.uniform(0.2, 0.8)
        self.ground_kind = ("pavement", "lawn", "gravel")[int(rng.integers(3))]
        spacing = rng.uniform(2.2, 3.8)
        offset = self.door_w + rng.uniform(0.6, 1.4)
        self.windows = []  # (x0, z0, x1, z1) in metres
        if rng.random() < 0.85:
            win_w, win_h = rng.uniform(0.7, 1.4), rng.uniform(1.0, 1.6)
            sill = self.steps + rng.uniform(0.8, 1.0)
            columns = [offset + k * spacing for k in range(4)] + [-rng.uniform(0.6, 1.4) - win_w - k * spacing
                                                                   for k in range(4)]
            for floor in range(storeys):
                for x in columns:
                    z0 = sill + floor * 3.0
                    if z0 + win_h < self.roof - 0.3:
                        self.windows.append((x, z0, x + win_w, z0 + win_h))
            for floor in range(1, storeys):  # above the door too
                z0 = sill + floor * 3.0
                if z0 + win_h < self.roof - 0.3:
                    x = self.door_w / 2 - win_w / 2
                    self.windows.append((x, z0, x + win_w, z0 + win_h))
        self.neighbour_door = offset + rng.uniform(3.0, 7.0) if rng.random() < 0.3 else None
        self.fence = None
        if kind == "gate" or (kind in ("facade", "door") and rng.random() < 0.15):
            # (height, the gate's left side, its width)
            self.fence = (rng.uniform(0.8, 1.3), rng.uniform(-3.5, -1.0), rng.uniform(1.2, 2.0))
            self.pillar_h = self.fence[0] + rng.uniform(0.3, 0.7)
            self.pillar_w = rng.uniform(0.35, 0.55)
        self.mailbox = None
        if kind == "mailbox" or rng.random() < 0.2:
            post = kind == "mailbox" or rng.random() < 0.3
            x = -rng.uniform(0.6, 2.0) if post else self.door_w + rng.uniform(0.3, 0.8)
            z = rng.uniform(0.9, 1.2) if post else rng.uniform(1.0, 1.4)
            self.mailbox = (x, z, rng.uniform(0.3, 0.5), rng.uniform(0.22, 0.35), post)
        self.host = self._pick_host(rng)

    def _pick_host(self, rng):
        if self.kind == "mailbox":
            return "mailbox"
        if self.kind == "gate":
            return "pillar"
        if self.kind == "wall":
            return "wall"
        shares = {"door": 0.35, "transom": 0.15, "beside": 0.4, "wall": 0.1}
        if not self.has_door:
            return "wall"
        return _choice(rng, shares)

    def host_point(self, rng, host, w_m, h_m):
        """The centre (x, z) of a number w_m x h_m metres on a host."""
        d = self.door_w
        if host == "other":
            options = ["beside", "wall", "transom"]
            if self.mailbox is not None:
                options.append("mailbox")
            if self.neighbour_door is not None:
                options.append("neighbour")
            if self.fence is not None:
                options.append("pillar")
            host = options[int(rng.integers(len(options)))]
        if host == "any":
            return rng.uniform(-3, 3), rng.uniform(0.5, 2.5)
        if host == "door" and w_m < 0.8 * d:
            return rng.uniform(0.5 * w_m + 0.1 * d, d - 0.5 * w_m - 0.1 * d), self.steps + rng.uniform(1.35, 1.75)
        if host == "transom":
            x = d / 2 + rng.normal(0, 0.1)
            return x, self.steps + self.door_h + self.trim + max(h_m / 2, rng.uniform(0.1, 0.35))
        if host == "neighbour" and self.neighbour_door is not None:
            return self.neighbour_door + d / 2 + rng.normal(0, 0.1), self.steps + rng.uniform(1.4, 2.3)
        if host == "pillar" and self.fence is not None:
            gate_x, gate_w = self.fence[1], self.fence[2]
            x = gate_x - self.pillar_w / 2 if rng.random() < 0.5 else gate_x + gate_w + self.pillar_w / 2
            return x, rng.uniform(0.5, max(0.6, self.pillar_h - h_m / 2 - 0.05))
        if host == "mailbox" and self.mailbox is not None:
            x, z, mw, mh, post = self.mailbox
            if post and rng.random() < 0.5:  # a plate on the post under the box
                return x + mw / 2, z - max(h_m / 2 + 0.05, rng.uniform(0.1, 0.3))
            return x + mw / 2, z + mh / 2
        if host in ("beside", "door"):
            side = -1 if rng.random() < 0.5 else 1
            gap = rng.uniform(0.2, 0.6) + w_m / 2 + self.trim
            x = -gap if side < 0 else d + gap
            return x, self.steps + rng.uniform(1.4, 2.0)
        return rng.uniform(-4, 4), rng.uniform(1.0, 2.6)  # "wall"

    # -- painting, back to front

    def paint(self, rng, camera, split):
        width, height = camera.width, camera.height
        image = _wall(rng, self.wall_colour, width, height, split, camera.ppm)
        roof_y = camera.y(self.roof)
        if roof_y > 0:  # the eaves, then the sky or trees above
            sky = _sky(rng, width, max(1, int(math.ceil(roof_y))), split)
            image[: sky.shape[0]] = sky[: height]
            below = roof_y - rng.uniform(0.1, 0.35) * camera.ppm
            eave = (0, below, width, roof_y + rng.uniform(0.05, 0.2) * camera.ppm)
            _fill(image, eave, np.clip(self.trim_colour * rng.uniform(0.3, 1.0), 0, 1))
        ground_y = camera.y(0.0)
        top = max(0, int(round(ground_y)))
        if top < height:
            image[top:] = _ground(rng, self.ground_kind, width, height - top, split)
            if self.steps > 0 and self.has_door:
                self._steps(rng, image, camera)
        for window in self.windows:
            rect = camera.rect(*window)
            if camera.visible(rect):
                _window(rng, image, rect, split, camera.ppm)
        if self.has_door:
            self._door(rng, image, camera, split, 0.0)
        if self.neighbour_door is not None:
            self._door(rng, image, camera, split, self.neighbour_door)
        self._fixtures(rng, image, camera, split)
        if self.fence is not None:
            self._fence(rng, image, camera, split)
        if self.mailbox is not None:
            self._mailbox(rng, image, camera)
        return image

    def _door(self, rng, image, camera, split, x):
        z0 = self.steps
        outer = camera.rect(x - self.trim, z0, x + self.door_w + self.trim, z0 + self.door_h + self.trim)
        if not camera.visible(outer):
            return
        _fill(image, outer, self.trim_colour * rng.uniform(0.85, 1.05))
        leaf = camera.rect(x, z0, x + self.door_w, z0 + self.door_h)
        _door_leaf(rng, image, leaf, self.door_colour, split, camera.ppm, camera.y(z0 + 1.0))

    def _steps(self, rng, image, camera):
        colour = np.full(3, rng.uniform(0.4, 0.8), np.float32)
        count = max(1, int(round(self.steps / 0.17)))
        for k in range(count):
            z1 = self.steps * (count - k) / count
            grow = 0.3 * (k + 1)
            rect = camera.rect(-grow, 0.0, self.door_w + grow, z1)
            _fill(image, rect, np.clip(colour * (0.85 + 0.1 * (k % 2)), 0, 1))
            _fill(image, (rect[0], rect[1], rect[2], rect[1] + max(1.0, 0.02 * camera.ppm)), colour * 1.15)

    def _fixtures(self, rng, image, camera, split):
        """A lamp beside the door, a downpipe, a doorbell, a vent: clutter that is not a number."""
        p = camera.ppm
        if self.has_door and rng.random() < 0.5:
            side = -0.35 if rng.random() < 0.5 else self.door_w + 0.2
            z = self.steps + rng.uniform(1.8, 2.2)
            rect = camera.rect(side, z, side + rng.uniform(0.12, 0.25), z + rng.uniform(0.25, 0.45))
            if camera.visible(rect):
                _fill(image, rect, np.full(3, rng.uniform(0.02, 0.3), np.float32))
                inner = _grow(rect, -max(1.0, 0.03 * p))
                _fill(image, inner, np.array([1.0, 0.95, 0.75], np.float32) * rng.uniform(0.5, 1.0))
        if rng.random() < 0.35:
            x = rng.uniform(-5, 5)
            rect = camera.rect(x, 0.0, x + rng.uniform(0.06, 0.12), self.roof)
            if camera.visible(rect):
                _fill(image, rect, np.clip(layers.pick_colour(rng) * 0.6 + 0.3, 0, 1))
        if self.has_door and rng.random() < 0.3:  # a doorbell or intercom
            x = self.door_w + self.trim + rng.uniform(0.05, 0.2)
            z = self.steps + rng.uniform(1.1, 1.5)
            rect = camera.rect(x, z, x + rng.uniform(0.06, 0.12), z + rng.uniform(0.1, 0.25))
            if camera.visible(rect):
                _fill(image, rect, np.full(3, rng.uniform(0.1, 0.8), np.float32))
                buttons = int(rng.integers(1, 5))
                for k in range(buttons):
                    bh = (rect[3] - rect[1]) / (buttons + 1)
                    cy = rect[1] + (k + 1) * bh
                    inset = 0.3 * (rect[2] - rect[0])
                    button = (rect[0] + inset, cy - 0.25 * bh, rect[2] - inset, cy + 0.25 * bh)
                    _fill(image, button, np.full(3, rng.uniform(0.0, 1.0), np.float32), radius=0.2 * bh)
        if rng.random() < 0.2:  # a vent or a meter box
            x, z = rng.uniform(-4, 4), rng.uniform(0.2, 2.0)
            rect = camera.rect(x, z, x + rng.uniform(0.2, 0.5), z + rng.uniform(0.15, 0.4))
            if camera.visible(rect):
                _fill(image, rect, np.full(3, rng.uniform(0.3, 0.9), np.float32))
                _slats(rng, image, rect, horizontal=True)

    def _fence(self, rng, image, camera, split):
        fence_h, gate_x, gate_w = self.fence
        p = camera.ppm
        pillar = np.clip(self.wall_colour * rng.uniform(0.7, 1.2), 0, 1)
        bars = np.array([(0.05, 0.05, 0.05), (0.9, 0.9, 0.88), (0.1, 0.25, 0.15), (0.4, 0.28, 0.16)]
                        [int(rng.integers(4))], np.float32)
        picket = rng.random() < 0.4
        spacing = rng.uniform(0.1, 0.18)
        bar_w = spacing * (rng.uniform(0.5, 0.8) if picket else rng.uniform(0.12, 0.3))
        x_lo, x_hi = camera.left - 1, camera.left + camera.width / p + 1
        x = x_lo
        while x < x_hi:
            in_gate = gate_x < x < gate_x + gate_w
            top = fence_h * (0.95 if in_gate else 1.0)
            rect = camera.rect(x, 0.0, x + bar_w, top)
            if camera.visible(rect) and not (gate_x - self.pillar_w < x < gate_x):
                if not (gate_x + gate_w < x < gate_x + gate_w + self.pillar_w):
                    _fill(image, rect, bars)
            x += spacing
        for z in (0.12, fence_h - 0.08):
            rect = camera.rect(x_lo, z, x_hi, z + 0.05)
            _fill(image, rect, bars)
        for x0 in (gate_x - self.pillar_w, gate_x + gate_w):
            rect = camera.rect(x0, 0.0, x0 + self.pillar_w, self.pillar_h)
            if camera.visible(rect):
                x0p, y0p, x1p, y1p = (int(round(c)) for c in rect)
                x0c, y0c, x1c, y1c = max(0, x0p), max(0, y0p), min(camera.width, x1p), min(camera.height, y1p)
                if x1c > x0c and y1c > y0c:
                    image[y0c:y1c, x0c:x1c] = _wall(rng, pillar, x1c - x0c, y1c - y0c, split, p)
                cap = camera.rect(x0 - 0.04, self.pillar_h, x0 + self.pillar_w + 0.04, self.pillar_h + 0.08)
                _fill(image, cap, np.clip(pillar * 1.2, 0, 1))

    def _mailbox(self, rng, image, camera):
        x, z, mw, mh, post = self.mailbox
        colour = np.array([(0.05, 0.05, 0.05), (0.5, 0.5, 0.52), (0.15, 0.3, 0.2), (0.9, 0.9, 0.88),
                           (0.6, 0.1, 0.1), (0.2, 0.25, 0.45)][int(rng.integers(6))], np.float32)
        if post:
            post_rect = camera.rect(x + mw / 2 - 0.05, 0.0, x + mw / 2 + 0.05, z)
            _fill(image, post_rect, np.array([0.35, 0.25, 0.15], np.float32) if rng.random() < 0.5 else colour * 0.8)
        rect = camera.rect(x, z, x + mw, z + mh)
        if not camera.visible(rect):
            return
        _fill(image, rect, colour, radius=0.25 * (rect[3] - rect[1]) if post else 0.05 * (rect[3] - rect[1]))
        mid = rect[1] + 0.3 * (rect[3] - rect[1])
        _fill(image, (rect[0] + 0.1 * (rect[2] - rect[0]), mid, rect[2] - 0.1 * (rect[2] - rect[0]),
                      mid + max(1.0, 0.02 * camera.ppm)), np.clip(colour * 0.4, 0, 1))
        if post and rng.random() < 0.5:  # the flag
            fx = rect[2] - 0.05 * camera.ppm
            _fill(image, (fx, rect[1] - 0.1 * camera.ppm, fx + 0.03 * camera.ppm, mid), np.array([0.8, 0.1, 0.1]))

    def paint_signs(self, rng, image, camera, split, numbers, empty=False):
        """Signs, notices and other text on the wall, never over a house number."""
        count = int(rng.integers(3, 7)) if self.kind == "wall" else int(rng.choice(4, p=(0.35, 0.35, 0.2, 0.1)))
        kinds = ["street", "name", "notice", "phone", "mixed", "plaque", "parking"]
        if empty and rng.random() < 0.5:  # a street sign up close
            sign = _sign_rect(rng, camera, rng.uniform(0.3, 0.8) * camera.width, rng.uniform(0.15, 0.3))
            if sign is not None:
                _sign(rng, image, sign, "street", split)
        for _ in range(count):
            kind = kinds[int(rng.integers(len(kinds)))]
            metres = {"street": rng.uniform(0.6, 1.2), "name": rng.uniform(0.6, 2.5), "notice": rng.uniform(0.2, 0.45),
                      "phone": rng.uniform(0.4, 0.9), "mixed": rng.uniform(0.5, 1.5), "plaque": rng.uniform(0.25, 0.5),
                      "parking": rng.uniform(0.3, 0.5)}[kind]
            ratio = {"street": 0.22, "name": rng.uniform(0.12, 0.3), "notice": 1.41, "phone": rng.uniform(0.4, 0.8),
                     "mixed": rng.uniform(0.15, 0.5), "plaque": rng.uniform(0.5, 0.8), "parking": 1.3}[kind]
            rect = _sign_rect(rng, camera, metres * camera.ppm, ratio)
            if rect is None or any(_overlap(rect, _grow(n, 0.5 * (n[3] - n[1]) + 2)) for n in numbers):
                continue
            _sign(rng, image, rect, kind, split)

    def paint_foreground(self, rng, image, camera, split, keep_clear):
        """Plants in front of the wall, never over a house number."""
        if rng.random() < 0.5:
            for _ in range(int(rng.integers(1, 4))):
                x, w, h = rng.uniform(-4, 4), rng.uniform(0.4, 1.5), rng.uniform(0.3, 1.4)
                rect = camera.rect(x, 0.0, x + w, h)
                if camera.visible(rect) and not any(_overlap(rect, k) for k in keep_clear):
                    _plant(rng, image, rect, split)


# ----------------------------------------------------------------------------- surfaces and things


def _wall(rng, colour, width, height, split, ppm):
    """A wall in metres: brick courses 7.5 cm high, siding boards 10-20 cm, render, stone
    (held out), or a recoloured photograph."""
    u = rng.random()
    if u < 0.2:
        return textures.surface(rng, colour, width, height, split, photo_share=1.0)
    out = colour.astype(np.float32) + rng.uniform(0, 0.12) * textures.ramp(rng, width, height)
    out = out + rng.uniform(0, 0.08) * textures.smooth_noise(rng, width, height, int(rng.integers(3, 8)), 3)
    kinds = ("brick", "siding", "render", "plain") if split != "held_out" else ("stone", "render", "plain")
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind in ("brick", "stone"):
        return textures.courses(rng, out, max(3.0, rng.uniform(0.065, 0.09) * ppm), stone=kind == "stone")
    if kind == "siding":
        period = max(3.0, rng.uniform(0.1, 0.2) * ppm)
        return out + rng.uniform(0.03, 0.12) * textures.stripes(rng, width, height, period, horizontal=True)[..., None]
    if kind == "render":
        grain = rng.normal(0, 1, (height, width)).astype(np.float32)
        return out + rng.uniform(0.02, 0.08) * grain[..., None]
    return out


def _sky(rng, width, height, split):
    top = np.array([0.35, 0.55, 0.85], np.float32) * rng.uniform(0.7, 1.1) if rng.random() < 0.6 else \
        np.full(3, rng.uniform(0.6, 0.9), np.float32)
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    sky = top + (np.float32(0.92) - top) * ys * rng.uniform(0.3, 1.0)
    sky = np.broadcast_to(sky, (height, width, 3)).copy()
    sky += rng.uniform(0, 0.15) * textures.smooth_noise(rng, width, height, int(rng.integers(2, 6)), 1)
    if rng.random() < 0.4:  # trees against the sky
        trees = textures.smooth_noise(rng, width, height, int(rng.integers(4, 12)))[..., 0]
        mask = np.clip((trees + ys[..., 0] * 1.5 - 0.9) * 4, 0, 1)
        green = textures.surface(rng, np.array([0.15, 0.3, 0.1], np.float32) * rng.uniform(0.6, 1.4), width, height,
                                 split, photo_share=0.7)
        sky = layers.blend(sky, mask, green)
    return sky


def _ground(rng, kind, width, height, split):
    colour = {"pavement": np.full(3, rng.uniform(0.45, 0.7), np.float32),
              "lawn": np.array([0.22, 0.4, 0.12], np.float32) * rng.uniform(0.7, 1.3),
              "gravel": np.array([0.6, 0.55, 0.48], np.float32)}[kind]
    return textures.surface(rng, colour, width, height, split, photo_share=0.6)


def _window_box(image, rect):
    """The integer window of image that rect (x0, y0, x1, y1) covers, or None."""
    height, width = image.shape[:2]
    x0, y0 = max(0, int(math.floor(rect[0]))), max(0, int(math.floor(rect[1])))
    x1, y1 = min(width, int(math.ceil(rect[2]))), min(height, int(math.ceil(rect[3])))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return x0, y0, x1, y1


def _fill(image, rect, fill, radius=0.0, alpha=1.0):
    """fill (an RGB colour, or a surface function of (width, height)) over the rect,
    anti-aliased at its edges, clipped to the image; returns the window or None."""
    window = _window_box(image, rect)
    if window is None or rect[2] - rect[0] < 0.5 or rect[3] - rect[1] < 0.5:
        return None
    x0, y0, x1, y1 = window
    local = (rect[0] - x0, rect[1] - y0, rect[2] - x0, rect[3] - y0)
    mask = _soft_rect(x1 - x0, y1 - y0, local, radius)
    colour = fill(x1 - x0, y1 - y0) if callable(fill) else np.asarray(fill, np.float32)
    image[y0:y1, x0:x1] = layers.blend(image[y0:y1, x0:x1], mask * np.float32(alpha), colour)
    return window


def _soft_rect(width, height, rect, radius=0.0):
    """A (height, width) coverage of a rectangle with fractional edges (a rounded one
    through PIL when radius > 0)."""
    if radius > 0.5:
        return layers.shape_mask(width, height, rect, "rounded", radius, supersample=2)
    xs = np.arange(width, dtype=np.float32) + np.float32(0.5)
    ys = np.arange(height, dtype=np.float32) + np.float32(0.5)
    cover_x = np.clip(np.minimum(xs - rect[0] + 0.5, rect[2] - xs + 0.5), 0, 1)
    cover_y = np.clip(np.minimum(ys - rect[1] + 0.5, rect[3] - ys + 0.5), 0, 1)
    return cover_y[:, None] * cover_x[None, :]


def _bevel(image, rect, depth, raised=True, strength=0.4):
    """Light top-left edges and shaded bottom-right ones (swapped when sunk)."""
    if depth < 0.6 or rect[2] - rect[0] < 3 * depth or rect[3] - rect[1] < 3 * depth:
        return
    light, dark = (np.ones(3, np.float32), np.zeros(3, np.float32)) if raised else \
        (np.zeros(3, np.float32), np.ones(3, np.float32))
    x0, y0, x1, y1 = rect
    _fill(image, (x0, y0, x1, y0 + depth), light, alpha=strength)
    _fill(image, (x0, y0, x0 + depth, y1), light, alpha=strength)
    _fill(image, (x0, y1 - depth, x1, y1), dark, alpha=strength)
    _fill(image, (x1 - depth, y0, x1, y1), dark, alpha=strength)


def _glass(rng, image, rect, split):
    """A pane: a dark interior, the street reflected, a glare; sometimes a curtain."""
    window = _window_box(image, rect)
    if window is None:
        return
    x0, y0, x1, y1 = window
    w, h = x1 - x0, y1 - y0
    inside = layers.pick_colour(rng) * rng.uniform(0.1, 0.4)
    if rng.random() < 0.3:  # a curtain or blind
        inside = np.clip(layers.pick_colour(rng) * 0.4 + 0.55, 0, 1)
    pane = textures.surface(rng, inside.astype(np.float32), w, h, split, photo_share=0.4)
    reflection = textures.surface(rng, np.array([0.6, 0.7, 0.8], np.float32), w, h, split, photo_share=0.9)
    pane = pane + rng.uniform(0.05, 0.35) * reflection[:, ::-1]
    pane = layers.gloss(rng, pane, np.ones((h, w), np.float32), rng.uniform(0.05, 0.4))
    _fill(image, rect, lambda *_: np.clip(pane, 0, 1))


def _window(rng, image, rect, split, ppm):
    frame = np.array(_TRIM_COLOURS[int(rng.integers(len(_TRIM_COLOURS)))], np.float32)
    x0, y0, x1, y1 = rect
    bar = max(1.0, rng.uniform(0.04, 0.09) * ppm)
    if rng.random() < 0.2:  # shutters
        sw = 0.45 * (x1 - x0)
        colour = np.clip(layers.pick_colour(rng) * 0.8, 0, 1)
        for sx in (x0 - sw - bar, x1 + bar):
            _fill(image, (sx, y0, sx + sw, y1), colour)
            _slats(rng, image, (sx, y0, sx + sw, y1), horizontal=True)
    _fill(image, (x0 - bar, y1, x1 + bar, y1 + max(1.0, 0.06 * ppm)), np.clip(frame * 1.05, 0, 1))  # the sill
    _fill(image, rect, frame)
    cols, rows = [(1, 1), (2, 1), (2, 2), (2, 3), (3, 2), (1, 2)][int(rng.integers(6))]
    inner = _grow(rect, -bar)
    if inner[2] - inner[0] < 2 or inner[3] - inner[1] < 2:
        return
    _glass(rng, image, inner, split)
    thin = max(1.0, 0.4 * bar)
    for c in range(1, cols):
        x = inner[0] + c * (inner[2] - inner[0]) / cols
        _fill(image, (x - thin / 2, inner[1], x + thin / 2, inner[3]), frame)
    for r in range(1, rows):
        y = inner[1] + r * (inner[3] - inner[1]) / rows
        _fill(image, (inner[0], y - thin / 2, inner[2], y + thin / 2), frame)


def _door_leaf(rng, image, rect, colour, split, ppm, handle_y):
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    grain = rng.random() < 0.4

    def leaf_surface(width, height):
        return textures.surface(rng, colour, width, height, split, photo_share=0.15,
                                kinds=("grain",) if grain else ("plain",))

    _fill(image, rect, leaf_surface)
    layout = ("panels", "glass_top", "glass_strip", "flush", "glass_full")[int(rng.choice(5, p=(0.4, 0.25, 0.1,
                                                                                              0.15, 0.1)))]
    margin = rng.uniform(0.1, 0.18) * w
    depth = max(0.8, 0.012 * ppm)
    if layout == "glass_full":
        _glass(rng, image, (x0 + margin, y0 + margin, x1 - margin, y1 - 1.5 * margin), split)
    elif layout == "glass_strip":
        gx = x0 + w * rng.uniform(0.35, 0.45)
        _glass(rng, image, (gx, y0 + margin, gx + 0.15 * w, y1 - margin), split)
    else:
        top = y0 + margin
        if layout == "glass_top":
            glass_h = h * rng.uniform(0.25, 0.4)
            _glass(rng, image, (x0 + margin, top, x1 - margin, top + glass_h), split)
            top += glass_h + margin
        if layout in ("panels", "glass_top"):
            cols = 1 if rng.random() < 0.4 else 2
            rows = int(rng.integers(1, 3)) if layout == "glass_top" else int(rng.integers(2, 4))
            gap = margin * 0.8
            pw = (w - 2 * margin - (cols - 1) * gap) / cols
            ph = (y1 - margin - top - (rows - 1) * gap) / rows
            raised = rng.random() < 0.5
            for r in range(rows):
                for c in range(cols):
                    px, py = x0 + margin + c * (pw + gap), top + r * (ph + gap)
                    _bevel(image, (px, py, px + pw, py + ph), depth, raised)
    metal = np.array([(0.75, 0.62, 0.3), (0.7, 0.7, 0.72), (0.05, 0.05, 0.05)][int(rng.integers(3))], np.float32)
    hx = x1 - rng.uniform(0.08, 0.14) * w if rng.random() < 0.75 else x0 + rng.uniform(0.06, 0.1) * w
    size = max(1.0, 0.05 * ppm)
    _fill(image, (hx - size / 2, handle_y - size, hx + size / 2, handle_y + size * rng.uniform(1, 3)), metal,
          radius=size / 3)
    if rng.random() < 0.35:  # a letter slot
        sy = handle_y - rng.uniform(0.0, 0.3) * ppm
        _fill(image, (x0 + 0.3 * w, sy, x1 - 0.3 * w, sy + max(1.0, 0.06 * ppm)), metal)


def _slats(rng, image, rect, horizontal=True):
    x0, y0, x1, y1 = rect
    count = int(rng.integers(4, 12))
    for k in range(count):
        if horizontal:
            y = y0 + (k + 0.5) * (y1 - y0) / count
            _fill(image, (x0, y, x1, y + max(0.6, 0.3 * (y1 - y0) / count)), np.zeros(3, np.float32), alpha=0.3)
        else:
            x = x0 + (k + 0.5) * (x1 - x0) / count
            _fill(image, (x, y0, x + max(0.6, 0.3 * (x1 - x0) / count), y1), np.zeros(3, np.float32), alpha=0.3)


def _plant(rng, image, rect, split):
    window = _window_box(image, rect)
    if window is None:
        return
    x0, y0, x1, y1 = window
    w, h = x1 - x0, y1 - y0
    if w < 3 or h < 3:
        return
    noise = textures.smooth_noise(rng, w, h, int(rng.integers(3, 9)))[..., 0]
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    mask = np.clip((1 - xx * xx - np.clip(-yy, 0, None) ** 2 + 0.6 * noise) * 3, 0, 1)
    green = np.array([0.12, 0.3, 0.08], np.float32) * rng.uniform(0.6, 1.5) + rng.normal(0, 0.03, 3).astype(np.float32)
    leaves = textures.surface(rng, np.clip(green, 0, 1), w, h, split, photo_share=0.8)
    image[y0:y1, x0:x1] = layers.blend(image[y0:y1, x0:x1], mask, leaves)


# ----------------------------------------------------------------------------- text that is not a house number


def _word(rng, length=None):
    length = int(rng.integers(2, 9)) if length is None else length
    start = int(rng.integers(2))
    return "".join(rng.choice(list(_VOWELS if (k + start) % 2 else _CONSONANTS)) for k in range(length))


def _digits(rng, length):
    return "".join(str(d) for d in rng.integers(0, 10, size=length))


def _sign_rect(rng, camera, width_px, ratio):
    """A sign's rectangle, ratio high per unit wide, somewhere in view (None if too small)."""
    w = min(width_px, 0.95 * camera.width)
    h = min(w * ratio, 0.95 * camera.height)
    if w < 6 or h < 4:
        return None
    x = rng.uniform(0, camera.width - w)
    y = rng.uniform(0, camera.height - h)
    return (x, y, x + w, y + h)


def _sign(rng, image, rect, kind, split):
    """A sign of some kind (street, name, notice, phone, mixed, plaque, parking)."""
    faces = glyph_ink.faces(split)
    glyphs = faces[int(rng.integers(len(faces)))][0]
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    grounds = {"street": ((0.1, 0.35, 0.15), (0.1, 0.2, 0.5), (0.95, 0.95, 0.93), (0.05, 0.05, 0.05)),
               "name": ((0.85, 0.55, 0.1), (0.9, 0.75, 0.1), (0.15, 0.35, 0.6), (0.6, 0.1, 0.15), (0.93, 0.93, 0.9),
                        (0.1, 0.1, 0.12)),
               "notice": ((0.97, 0.97, 0.95), (0.95, 0.93, 0.8), (0.9, 0.95, 1.0)),
               "phone": ((0.95, 0.95, 0.93), (0.9, 0.8, 0.1), (0.7, 0.1, 0.1), (0.1, 0.2, 0.5)),
               "mixed": ((0.95, 0.95, 0.93), (0.2, 0.2, 0.22), (0.15, 0.35, 0.6)),
               "plaque": ((0.72, 0.58, 0.28), (0.74, 0.75, 0.77), (0.2, 0.22, 0.23)),
               "parking": ((0.1, 0.3, 0.7),)}[kind]
    ground = np.array(grounds[int(rng.integers(len(grounds)))], np.float32) + rng.normal(0, 0.03, 3).astype(np.float32)
    ground = np.clip(ground, 0, 1)
    ink = layers.contrasting(rng, ground, 0.45)
    if kind == "name" and rng.random() < 0.5:
        ink = layers.contrasting(rng, ground, 0.45)
    radius = rng.uniform(0, 0.15) * min(w, h) if rng.random() < 0.5 else 0.0
    _fill(image, rect, ground, radius=radius)
    if kind == "street" and rng.random() < 0.6:  # a border line
        inset = max(1.0, 0.06 * h)
        ring = (x0 + inset, y0 + inset, x1 - inset, y1 - inset)
        _fill(image, ring, ink, radius=radius)
        _fill(image, _grow(ring, -max(0.8, 0.04 * h)), ground, radius=radius)
    if kind == "street":
        _line(rng, image, glyphs, [_word(rng), _STREET_SUFFIXES[int(rng.integers(len(_STREET_SUFFIXES)))]],
              x0 + 0.08 * w, y0 + 0.2 * h, 0.6 * h, ink, x1 - 0.05 * w)
    elif kind == "name":
        lines = int(rng.integers(1, 3))
        for k in range(lines):
            line_h = h / lines
            _line(rng, image, glyphs, [_word(rng) for _ in range(int(rng.integers(1, 4)))], x0 + 0.05 * w,
                  y0 + (k + 0.2) * line_h, 0.55 * line_h, ink, x1 - 0.03 * w)
    elif kind == "notice":
        _line(rng, image, glyphs, [_word(rng) for _ in range(int(rng.integers(1, 3)))], x0 + 0.1 * w, y0 + 0.06 * h,
              0.07 * h, ink, x1 - 0.05 * w)
        y = y0 + 0.2 * h
        small = rng.uniform(0.025, 0.045) * h
        while y < y1 - 0.1 * h:
            words = [_word(rng) for _ in range(int(rng.integers(2, 6)))]
            if rng.random() < 0.15:
                words.insert(int(rng.integers(len(words))), _digits(rng, int(rng.integers(1, 5))))
            _line(rng, image, glyphs, words, x0 + 0.1 * w, y, small, ink, x1 - 0.08 * w)
            y += small * rng.uniform(1.6, 2.2)
    elif kind == "phone":
        size = h * rng.uniform(0.18, 0.28)
        _line(rng, image, glyphs, [_word(rng) for _ in range(int(rng.integers(1, 3)))], x0 + 0.06 * w, y0 + 0.1 * h,
              size, ink, x1 - 0.04 * w)
        groups = [_digits(rng, int(rng.integers(7, 12)))] if rng.random() < 0.5 else \
            [_digits(rng, int(rng.integers(2, 5))) for _ in range(int(rng.integers(2, 4)))]
        prefix = [("TEL", "PH", "CALL", "FAX", "T", "MOB")[int(rng.integers(6))]]
        _line(rng, image, glyphs, prefix + groups, x0 + 0.06 * w, y0 + 0.55 * h, size, ink, x1 - 0.04 * w)
    elif kind == "mixed":  # "LEVEL 2 NORTH", "ROOM 214", "OPEN 9 TO 5"
        lines = int(rng.integers(1, 4))
        for k in range(lines):
            line_h = h / lines
            words = [_word(rng) for _ in range(int(rng.integers(1, 4)))]
            words.insert(int(rng.integers(len(words) + 1)), _digits(rng, int(rng.integers(1, 4))))
            _line(rng, image, glyphs, words, x0 + 0.05 * w, y0 + (k + 0.2) * line_h, 0.5 * line_h, ink, x1 - 0.03 * w)
    elif kind == "plaque":
        lines = int(rng.integers(2, 5))
        for k in range(lines):
            line_h = 0.8 * h / lines
            _line(rng, image, glyphs, [_word(rng) for _ in range(int(rng.integers(1, 3)))], x0 + 0.1 * w,
                  y0 + 0.1 * h + (k + 0.2) * line_h, 0.5 * line_h, ink, x1 - 0.08 * w)
    else:  # parking: a big P and a line of small words
        _line(rng, image, glyphs, ["P"], x0 + 0.3 * w, y0 + 0.08 * h, 0.5 * h, ink, x1)
        _line(rng, image, glyphs, [_word(rng) for _ in range(2)], x0 + 0.08 * w, y0 + 0.7 * h, 0.12 * h, ink,
              x1 - 0.05 * w)


def _line(rng, image, glyphs, words, x, y, size, colour, right):
    """A line of words from (x, y), size pixels high, made smaller when it would run
    past `right` (a line is drawn whole or not at all: digits in it never stand alone);
    text too small to draw letter by letter is the row of soft strokes it blurs into."""
    words = ["".join(c for c in word if c in glyphs) for word in words]
    words = [word for word in words if word]
    if not words:
        return
    needed = sum(len(word) * 0.72 + 0.55 for word in words) - 0.55
    size = min(size, (right - x) / needed)
    if size < 1.5:
        return
    if size < 5:
        cursor = x
        for word in words:
            length = len(word) * 0.72 * size
            _fill(image, (cursor, y + 0.15 * size, cursor + length, y + 0.85 * size), colour, alpha=0.55)
            cursor += length + 0.55 * size
        return
    window = _window_box(image, (x - 2, y - 0.4 * size, right + size, y + 1.5 * size))
    if window is None:
        return
    wx0, wy0, wx1, wy1 = window
    patch = image[wy0:wy1, wx0:wx1]
    cursor = x
    for word in words:
        layers.paste_text(rng, patch, glyphs, word, cursor - wx0, y - wy0, size, colour)
        cursor += (len(word) * 0.72 + 0.55) * size


# ----------------------------------------------------------------------------- light and camera


def _light(rng, image):
    """Uneven light over the whole photo, sometimes a cast shadow's edge, an exposure."""
    height, width = image.shape[:2]
    image = image * (1 + rng.uniform(0, 0.4) * textures.ramp(rng, width, height))
    if rng.random() < 0.2:
        edge = textures.ramp(rng, width, height)[..., 0] * rng.uniform(4, 20) + rng.normal(0, 1)
        image = image * (1 - rng.uniform(0.2, 0.55) / (1 + np.exp(-edge)))[..., None]
    return image * rng.uniform(0.75, 1.15)


def _camera_effects(rng, image, found):
    """The camera on a float photo: perspective (the boxes follow), blur, resampling,
    JPEG, noise, domain randomisation. Returns uint8 pixels and the moved boxes."""
    decide = rng.random(len(CAMERA))
    happens = {name: bool(u < p) for (name, p), u in zip(CAMERA.items(), decide)}
    uniforms = rng.random((len(CAMERA), 6))
    u = dict(zip(CAMERA, uniforms))
    pixels = Image.fromarray(np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8))
    width, height = pixels.size
    if happens["perspective"]:
        pixels, found = _perspective(pixels, found, u["perspective"])
    if happens["domain"]:
        pixels = Image.fromarray(effects.recolour(np.asarray(pixels), u["domain"]))
    if happens["resample"]:
        factor = 0.45 + 0.5 * u["resample"][0]
        small = (max(16, int(width * factor)), max(16, int(height * factor)))
        pixels = pixels.resize(small, Image.BILINEAR).resize((width, height), Image.BICUBIC)
    if happens["blur"]:
        pixels = pixels.filter(ImageFilter.GaussianBlur(float(0.3 + 1.0 * u["blur"][0])))
    if happens["motion_blur"]:
        pixels = effects._motion_blur(pixels, u["motion_blur"], 64)
    if happens["jpeg"]:
        import io

        buffer = io.BytesIO()
        pixels.save(buffer, format="JPEG", quality=int(25 + 70 * u["jpeg"][0]))
        pixels = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out = np.asarray(pixels, np.float32)
    if happens["noise"]:
        out = effects._noise(rng, out, u["noise"] * np.array([0.6, 1, 1, 1, 1, 1]))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), found


def _perspective(pixels, found, u):
    """A slight rotation (up to 4 degrees) and keystone; each digit box becomes the
    bounds of its mapped corners."""
    width, height = pixels.size
    angle = math.radians((u[0] - 0.5) * 8)
    kx, ky = (u[1] - 0.5) * 0.3 / width, (u[2] - 0.5) * 0.3 / height
    zoom = 1.0 + 0.06 * u[3]
    cx, cy = width / 2, height / 2
    cos, sin = math.cos(angle) * zoom, math.sin(angle) * zoom
    forward = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, 1, 0], [kx, ky, 1]]) @ \
        np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]]) @ np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]])
    inverse = np.linalg.inv(forward)
    coefficients = tuple((inverse / inverse[2, 2]).ravel()[:8])
    fill = tuple(int(c) for c in np.asarray(pixels).reshape(-1, 3).mean(axis=0))  # the corners a turn uncovers
    warped = pixels.transform((width, height), Image.PERSPECTIVE, coefficients, Image.BICUBIC, fillcolor=fill)
    moved = []
    for text, boxes in found:
        mapped = []
        for x0, y0, x1, y1 in boxes:
            corners = forward @ np.array([[x0, x1, x0, x1], [y0, y0, y1, y1], [1, 1, 1, 1]], np.float64)
            xs, ys = corners[0] / corners[2], corners[1] / corners[2]
            mapped.append((max(0.0, xs.min()), max(0.0, ys.min()), min(float(width), xs.max()),
                           min(float(height), ys.max())))
        moved.append((text, mapped))
    return warped, moved


# ----------------------------------------------------------------------------- many photos


def _render_task(task):
    index, purpose, seed, split, long_side, kinds = task
    return _photo(_rng(purpose, seed, index, split), split, long_side, kinds)


def render_photos(count, seed=0, split="train", workers=1, progress=False, *, purpose, long_side=LONG_SIDE,
                  kinds=None, start=0):
    """Photos start .. start + count - 1 of a stream, as a list of `Photo`s (in
    worker processes when workers > 1)."""
    count = check_int("count", count, 0)
    seed = check_int("seed", seed, 0)
    start = check_int("start", start, 0)
    synth._check_split(split)
    synth._check_purpose(purpose)
    shares, sides = _kind_shares(kinds), _long_side_range(long_side)
    tasks = [(start + i, purpose, seed, split, sides, shares) for i in range(count)]
    return list(parallel_map(_render_task, tasks, workers, progress, "photos", serial_below=64))


def _encoded(task):
    index, purpose, seed, split, long_side = task
    photo = _photo(_rng(purpose, seed, index, split), split, long_side, dict(KINDS))
    buffer = io.BytesIO()
    Image.fromarray(photo.image).save(buffer, format="JPEG", quality=95)
    boxes = [(b[0], b[1], b[0] + b[2], b[1] + b[3]) for b in photo.boxes]
    return buffer.getvalue(), boxes, list(photo.numbers)


def render_encoded(count, seed, purpose, split="train", workers=2, progress=False, long_side=LONG_SIDE, log=print,
                   start=0):
    """Photos start .. start + count - 1 of a stream as (JPEG bytes (quality 95), boxes
    (x0, y0, x1, y1), numbers): compact enough to keep tens of thousands in memory."""
    check_int("count", count, 0)
    synth._check_split(split)
    synth._check_purpose(purpose)
    began = time.perf_counter()
    tasks = [(start + i, purpose, seed, split, _long_side_range(long_side)) for i in range(count)]
    photos = list(parallel_map(_encoded, tasks, workers, progress, "photos", serial_below=64))
    seconds = time.perf_counter() - began
    log(f"rendered {count} {purpose} photos (seed {seed}, {split} split) in {seconds:.1f} s "
        f"({count / max(seconds, 1e-9):.1f} photos/s)")
    return photos
