"""The OCR peers the benchmarks compare against, and how their answers are scored and timed.

Two RapidOCR releases, each behind the same two calls, always with every flag explicit
(RapidOCR 3 keeps a flag passed once for later calls):

- `recognise(bgr)`: the recogniser alone on the whole array (no detector, no angle
  classifier); its text, "" for nothing.
- `detect_and_recognise(bgr, use_cls=False)`: the detector, then the recogniser on each
  detected line; the lines' texts in RapidOCR's reading order, [] for none.
- `detect(bgr)`: the detector alone; each line's bounds (x0, y0, x1, y1), [] for none.

RapidOCR takes a NumPy array to be BGR uint8 (`bgr` converts an RGB PIL image).
Texts are scored on their digits alone (`digits_only`): NFKC first, so full-width
digits count, then every other character dropped ("No.12a" reads "12").
"""

import statistics
import sys
import time
import unicodedata
from importlib import metadata

import numpy as np

#: What the `peer` extra installs, by import name: (distribution, models in its wheel).
RAPIDOCR_RELEASES = {
    "rapidocr_onnxruntime": ("rapidocr-onnxruntime", "PP-OCRv4"),
    "rapidocr": ("rapidocr", "PP-OCRv6 small"),
}
INSTALL_HINT = 'pip install -c constraints.txt -e ".[peer]"'


def digits_only(text):
    """RapidOCR's text reduced to the digits 0-9 (NFKC first: full-width digits count).

    >>> digits_only("No.１２a")
    '12'
    """
    return "".join(c for c in unicodedata.normalize("NFKC", text or "") if "0" <= c <= "9")


def lines_match(lines, truth):
    """Whether detected lines give the number: any line, or all lines joined, equals
    `truth` once non-digits are dropped.

    >>> lines_match(["Nr.", "12", "B"], "12"), lines_match(["1", "2"], "12"), lines_match(["21"], "12")
    (True, True, False)
    """
    return any(digits_only(line) == truth for line in lines) or digits_only("".join(lines)) == truth


def bgr(image, box=None):
    """An RGB PIL image (cropped to box) as the contiguous BGR uint8 array RapidOCR reads."""
    array = np.asarray(image if box is None else image.crop(box))
    return np.ascontiguousarray(array[..., ::-1])


class RapidOCR1:
    """`rapidocr-onnxruntime` 1.x (PP-OCRv4): answers ([[box, text, score], ...] or
    [[text, score]] without the detector, None for nothing, elapsed)."""

    module = "rapidocr_onnxruntime"

    def __init__(self):
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()

    def recognise(self, image):
        result, _ = self.engine(image, use_det=False, use_cls=False, use_rec=True)
        return result[0][0] if result else ""

    def detect_and_recognise(self, image, use_cls=False):
        result, _ = self.engine(image, use_det=True, use_cls=use_cls, use_rec=True)
        return [line[1] for line in result] if result else []

    def detect(self, image):
        result, _ = self.engine(image, use_det=True, use_cls=False, use_rec=False)
        return [_bounds(quad) for quad in result] if result else []


class RapidOCR3:
    """`rapidocr` 3.x (PP-OCRv6 small by default): answers an output object whose
    `txts` holds the texts (None for nothing). Its log is quietened to errors."""

    module = "rapidocr"

    def __init__(self):
        from rapidocr import RapidOCR

        self.engine = RapidOCR(params={"Global.log_level": "error"})

    def recognise(self, image):
        texts = self.engine(image, use_det=False, use_cls=False, use_rec=True).txts
        return texts[0] if texts else ""

    def detect_and_recognise(self, image, use_cls=False):
        return list(self.engine(image, use_det=True, use_cls=use_cls, use_rec=True).txts or [])

    def detect(self, image):
        boxes = self.engine(image, use_det=True, use_cls=False, use_rec=False).boxes
        return [_bounds(quad) for quad in boxes] if boxes is not None else []


def _bounds(quad):
    """The bounds (x0, y0, x1, y1) of a detected line's four corners."""
    points = np.asarray(quad, np.float64).reshape(-1, 2)
    return (*points.min(axis=0), *points.max(axis=0))


def installed_rapidocrs(wanted=(RapidOCR1, RapidOCR3)):
    """{release name: engine} for the RapidOCR releases installed; exits with a
    message naming the `peer` extra when none is."""
    engines = {}
    for kind in wanted:
        try:
            engine = kind()
        except ImportError:
            continue
        distribution, models = RAPIDOCR_RELEASES[kind.module]
        engines[f"RapidOCR {metadata.version(distribution)} ({models})"] = engine
    if not engines:
        names = " and ".join(f"{RAPIDOCR_RELEASES[kind.module][0]}" for kind in wanted)
        sys.exit(f"RapidOCR is not installed: {INSTALL_HINT} (the peer extra: {names})")
    return engines


def interleaved(count, readers):
    """Runs readers[name](i) for i in range(count), one image at a time, rotating which
    reader goes first (with two: alternating), so all see the same machine load.
    Returns per reader its answers and seconds per image."""
    answers = {name: [] for name in readers}
    seconds = {name: [] for name in readers}
    order = list(readers)
    for i in range(count):
        shift = i % len(order)
        for name in order[shift:] + order[:shift]:
            start = time.perf_counter()
            answer = readers[name](i)
            seconds[name].append(time.perf_counter() - start)
            answers[name].append(answer)
    return answers, seconds


def speed(seconds):
    """{"images_per_s", "median_ms"} of per-image seconds."""
    return {"images_per_s": len(seconds) / sum(seconds), "median_ms": 1000 * statistics.median(seconds)}


def accuracy(answers, truths):
    """Percentage of answers equal to their truth."""
    return 100.0 * sum(a == t for a, t in zip(answers, truths)) / len(truths)


def load_our_locator(name):
    """kerasvhn's number locator by path or preset; None: the shipped one when installed,
    else None (our two stages are then left out)."""
    from kerasvhn.locator import load_locator
    from kerasvhn.locator_presets import shipped_locator_available

    if name is None and not shipped_locator_available():
        print("no locator installed or given (--locator): our two stages are left out")
        return None
    return load_locator(name)


def load_our_model(name):
    """kerasvhn's model by path or preset (None: the shipped one); "untrained": a fresh
    `small` network (for checking that a script runs)."""
    from kerasvhn.model import MultiDigitNet
    from kerasvhn.saving import load_model

    if name == "untrained":
        return MultiDigitNet("small")
    try:
        return load_model(name)
    except FileNotFoundError as error:
        sys.exit(f"{error}\n(pass --model PATH, or --model untrained to check that the script runs)")
