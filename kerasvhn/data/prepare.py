"""The paper's preprocessing: SVHN format-1 folders into cached 64x64 splits.

Per image: the union of its digit boxes, expanded by 30% in x and in y (15% on each
side, Goodfellow et al. 2013) and clipped to the image, is cropped and resized to
64x64 RGB uint8. Labels use kerasvhn's format; numbers longer than max_digits get
the "more" length class and are counted. Each split becomes one HDF5 file
(`images` (N, 64, 64, 3) uint8, `length`, `digits`, `names`), written atomically.
"""

import dataclasses
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from kerasvhn.data.batches import write_split
from kerasvhn.data.parallel import parallel_map
from kerasvhn.data.digitstruct import read_digitstruct
from kerasvhn.sequence import encode_numbers, more_class

EXPAND = 0.30
SIZE = 64


class PrepareError(ValueError):
    """A split folder that cannot be prepared (the message names the file)."""


@dataclasses.dataclass
class SplitSummary:
    """What `prepare_split` did: counts, and the images it skipped with why."""

    split: str
    path: str
    images: int = 0
    more_than_max_digits: int = 0
    skipped: list = dataclasses.field(default_factory=list)
    cached: bool = False

    def __str__(self):
        state = "cached" if self.cached else "written"
        text = f"{self.split}: {self.images} images {state} to {self.path}"
        if self.more_than_max_digits:
            text += f"; {self.more_than_max_digits} with more digits than the model reads"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped ({self.skipped[0][0]}: {self.skipped[0][1]}"
            text += ", ...)" if len(self.skipped) > 1 else ")"
        return text


def crop_box(record, width, height):
    """The paper's crop for one image: (left, top, right, bottom) in pixels, or None
    when the boxes lie outside the image."""
    left = np.asarray(record["left"], np.float64)
    top = np.asarray(record["top"], np.float64)
    right = left + np.asarray(record["width"], np.float64)
    bottom = top + np.asarray(record["height"], np.float64)
    x0, y0, x1, y1 = left.min(), top.min(), right.max(), bottom.max()
    dx, dy = (x1 - x0) * EXPAND / 2, (y1 - y0) * EXPAND / 2
    x0, y0 = max(0.0, x0 - dx), max(0.0, y0 - dy)
    x1, y1 = min(float(width), x1 + dx), min(float(height), y1 + dy)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))


def number_of(record):
    """The number as a string of digits (the file's label 10 is the digit 0)."""
    return "".join(str(int(label) % 10) for label in record["label"])


def _prepare_one(task):
    folder, record = task
    path = os.path.join(folder, record["name"])
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")  # grayscale, RGBA and palette images too
            box = crop_box(record, *image.size)
            if box is None:
                return None, f"its digit boxes lie outside the {image.size[0]}x{image.size[1]} image"
            crop = image.crop(box).resize((SIZE, SIZE), Image.BILINEAR)
            return np.asarray(crop, np.uint8), None
    except FileNotFoundError:
        return None, "file not found"
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        return None, f"unreadable image ({error})"


def prepare_split(src, out_path, split=None, max_digits=5, workers=None, progress=True):
    """Prepares one split folder (PNGs plus digitStruct.mat) into one HDF5 file.

    Returns a SplitSummary at once when out_path already exists (the cache is only
    ever renamed into place complete). Unreadable images and images whose boxes lie
    outside them are skipped and listed in the summary.
    """
    split = split or os.path.basename(os.path.normpath(src))
    if os.path.exists(out_path):
        import h5py

        with h5py.File(out_path, "r") as cache:
            return SplitSummary(split, out_path, images=len(cache["length"]), cached=True)
    mat_path = os.path.join(src, "digitStruct.mat")
    if not os.path.exists(mat_path):
        raise PrepareError(f"{src} is not an SVHN format-1 split folder: no digitStruct.mat in it")
    records = list(read_digitstruct(mat_path).records())
    workers = workers or min(2, os.cpu_count() or 1)
    tasks = [(src, record) for record in records]
    summary = SplitSummary(split, out_path)
    images, numbers, names = [], [], []
    results = parallel_map(_prepare_one, tasks, workers, progress, f"prepare {split}", serial_below=64)
    for record, (image, problem) in zip(records, results):
        if problem:
            summary.skipped.append((record["name"], problem))
            continue
        number = number_of(record)
        summary.more_than_max_digits += len(number) > max_digits
        images.append(image)
        numbers.append(number)
        names.append(record["name"])
    labels = encode_numbers(numbers, max_digits)
    assert np.sum(labels["length"] == more_class(max_digits)) == summary.more_than_max_digits
    stacked = np.stack(images) if images else np.zeros((0, SIZE, SIZE, 3), np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    write_split(out_path, stacked, labels, names)
    summary.images = len(names)
    return summary


def prepare(src, out, splits=None, max_digits=5, workers=None, progress=True):
    """Prepares every split folder found in src (train, test, extra, or src itself).

    >>> import tempfile
    >>> from kerasvhn.data import prepare
    >>> prepare(tempfile.mkdtemp(), tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    kerasvhn.data.prepare.PrepareError: ... has no split folders (train/, test/, extra/ with a digitStruct.mat)
    """
    if os.path.exists(os.path.join(src, "digitStruct.mat")):
        found = {os.path.basename(os.path.normpath(src)): src}
    else:
        candidates = splits or ("train", "test", "extra")
        found = {
            name: os.path.join(src, name)
            for name in candidates
            if os.path.exists(os.path.join(src, name, "digitStruct.mat"))
        }
    if not found:
        raise PrepareError(f"{src} has no split folders (train/, test/, extra/ with a digitStruct.mat)")
    return [
        prepare_split(folder, os.path.join(out, f"{name}.h5"), name, max_digits, workers, progress)
        for name, folder in found.items()
    ]
