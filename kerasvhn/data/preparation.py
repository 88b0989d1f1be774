"""The paper's preprocessing: SVHN format-1 folders into cached 64x64 splits.

Per image: the union of its digit boxes, expanded by 30% in x and in y (15% on each
side, Goodfellow et al. 2013) and clipped to the image, is cropped and resized to
64x64 RGB uint8. Labels use kerasvhn's format; numbers longer than max_digits get
the "more" length class and are counted. Each split becomes one HDF5 file
(`images` (N, 64, 64, 3) uint8, `length`, `digits`, `names`), written atomically and
streamed: images go to the file in chunks as the workers deliver them, so memory
does not grow with the split.

The file records the settings it was made with (its "settings" attribute, JSON:
the source folder, its digitStruct.mat's size and modification time, max_digits,
the expansion, the size and the kerasvhn version). A later `prepare` reuses the
file only when they all match, and otherwise rebuilds it and says why.
"""

import dataclasses
import importlib.metadata
import json
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from kerasvhn.data.digitstruct import read_digitstruct
from kerasvhn.data.parallel import parallel_map
from kerasvhn.data.splits import SplitWriter
from kerasvhn.framing import EXPAND, SIZE, crop_box, frame_pixels
from kerasvhn.labels import encode_numbers, more_class

#: Images written to the HDF5 file at a time (about 12 MB of 64x64 crops).
CHUNK = 1024


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
    #: Why an existing file was rebuilt (e.g. "max_digits: 4 -> 5"); None when
    #: it was reused or there was none.
    rebuilt: str = None

    def __str__(self):
        state = "cached (same settings) in" if self.cached else "written to"
        text = f"{self.split}: {self.images} images {state} {self.path}"
        if self.rebuilt:
            text += f" (rebuilt: {self.rebuilt})"
        if self.more_than_max_digits:
            text += f"; {self.more_than_max_digits} with more digits than the model reads"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped ({self.skipped[0][0]}: {self.skipped[0][1]}"
            text += ", ...)" if len(self.skipped) > 1 else ")"
        return text


def _prepare_one(task):
    folder, record = task
    path = os.path.join(folder, record["name"])
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")  # grayscale, RGBA and palette images too
            box = crop_box(record, *image.size)
            if box is None:
                return None, f"its digit boxes lie outside the {image.size[0]}x{image.size[1]} image"
            return frame_pixels(image, box), None
    except FileNotFoundError:
        return None, "file not found"
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        return None, f"unreadable image ({error})"


def split_settings(src, max_digits=5):
    """The settings a prepared split records: what its contents depend on.

    The source folder's absolute path, its digitStruct.mat's size and modification
    time (ns), max_digits, the expansion, the size and the kerasvhn version."""
    stat = os.stat(os.path.join(src, "digitStruct.mat"))
    return {
        "source": os.path.abspath(src),
        "digitstruct_size": stat.st_size,
        "digitstruct_mtime_ns": stat.st_mtime_ns,
        "max_digits": int(max_digits),
        "expansion": EXPAND,
        "size": SIZE,
        "version": _version(),
    }


def _version():
    try:
        return importlib.metadata.version("kerasvhn")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cache_mismatch(out_path, settings):
    """Why the file at out_path cannot serve as the split prepared with `settings`
    ("no recorded settings", "max_digits: 4 -> 5", ...), or None when it can."""
    import h5py

    try:
        with h5py.File(out_path, "r") as cache:
            recorded = cache.attrs.get("settings")
            cache["length"]  # a split file, not any HDF5 file
    except (OSError, KeyError, TypeError) as error:
        return f"unreadable ({error})"
    if recorded is None:
        return "no recorded settings"
    try:
        recorded = json.loads(recorded)
    except (TypeError, ValueError):
        return "unreadable settings"
    if not isinstance(recorded, dict):
        return "unreadable settings"
    changes = [
        f"{key}: {recorded.get(key)!r} -> {value!r}"
        for key, value in settings.items()
        if recorded.get(key) != value
    ]
    return "; ".join(changes) or None


def prepare_split(src, out_path, split=None, max_digits=5, workers=None, progress=True, chunk=CHUNK):
    """Prepares one split folder (PNGs plus digitStruct.mat) into one HDF5 file.

    Reuses out_path when it exists and records the same settings (`split_settings`);
    otherwise (re)builds it, streaming `chunk` images at a time into a temporary
    file that replaces out_path once complete. The summary says which, and why
    an existing file was rebuilt. Unreadable images and images whose boxes lie
    outside them are skipped and listed in the summary.
    """
    split = split or os.path.basename(os.path.normpath(src))
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    if not os.path.exists(os.path.join(src, "digitStruct.mat")):
        raise PrepareError(f"{src} is not an SVHN format-1 split folder: no digitStruct.mat in it")
    settings = split_settings(src, max_digits)
    rebuilt = None
    if os.path.exists(out_path):
        rebuilt = cache_mismatch(out_path, settings)
        if rebuilt is None:
            import h5py

            with h5py.File(out_path, "r") as cache:
                return SplitSummary(split, out_path, images=len(cache["length"]), cached=True)
    summary = SplitSummary(split, out_path, rebuilt=rebuilt)
    boxes = read_digitstruct(os.path.join(src, "digitStruct.mat"))
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    attrs = {"settings": json.dumps(settings)}
    with SplitWriter(out_path, max_digits, (SIZE, SIZE, 3), attrs=attrs) as writer:
        _stream(src, boxes, writer, summary, workers, progress, chunk)
    summary.images = writer.count
    return summary


class _Tasks:
    """(folder, record) of each image, made when asked for: the records of a large
    split are never all in memory at once."""

    def __init__(self, folder, boxes):
        self.folder, self.boxes = folder, boxes

    def __len__(self):
        return len(self.boxes)

    def __iter__(self):
        return ((self.folder, self.boxes[index]) for index in range(len(self.boxes)))


def _stream(src, boxes, writer, summary, workers, progress, chunk):
    """Crops every image in worker processes and writes them `chunk` at a time."""
    workers = workers or min(2, os.cpu_count() or 1)
    numbers, names = boxes.numbers(), boxes.names
    results = parallel_map(_prepare_one, _Tasks(src, boxes), workers, progress, f"prepare {summary.split}",
                           serial_below=64)
    buffer = np.empty((chunk, SIZE, SIZE, 3), np.uint8)
    kept = []
    for index, (image, problem) in enumerate(results):
        if problem:
            summary.skipped.append((names[index], problem))
            continue
        buffer[len(kept)] = image
        kept.append(index)
        if len(kept) == chunk:
            _write_chunk(writer, buffer, kept, numbers, names, summary)
            kept = []
    _write_chunk(writer, buffer, kept, numbers, names, summary)


def _write_chunk(writer, buffer, kept, numbers, names, summary):
    chosen = [numbers[index] for index in kept]
    labels = encode_numbers(chosen, writer.max_digits)
    more = sum(len(number) > writer.max_digits for number in chosen)
    assert np.sum(labels["length"] == more_class(writer.max_digits)) == more
    summary.more_than_max_digits += more
    writer.append(buffer[: len(kept)], labels, [names[index] for index in kept])


def prepare(src, out, splits=None, max_digits=5, workers=None, progress=True):
    """Prepares every split folder found in src (train, test, extra, or src itself).

    >>> import tempfile
    >>> from kerasvhn.data import prepare
    >>> prepare(tempfile.mkdtemp(), tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    kerasvhn.data.preparation.PrepareError: ... has no split folders (train/, test/, extra/ with a digitStruct.mat)
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
