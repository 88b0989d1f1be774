"""Prepared splits on disk: one HDF5 file per split, NumPy and h5py only (no Keras).

A prepared split holds the datasets

    images  uint8 (N, H, W, 3)        64x64 crops around the house numbers
    length  int32 (N,)                the label format of kerasvhn.labels
    digits  int32 (N, max_digits)
    names   utf-8 strings (N,)        where each image came from (e.g. "train/1.png")

written by `write_split` (from arrays) or `SplitWriter` (piece by piece), always
atomically; `read_split` reads one back, `open_split` checks one and hands out its
images lazily (what `kerasvhn.data.batches.SplitBatches` reads batches from).
"""

import contextlib
import os
import uuid
from pathlib import Path

import h5py
import numpy as np

from kerasvhn.labels import more_class

FORMAT = "kerasvhn-split-1"
REQUIRED_DATASETS = ("images", "length", "digits")
def write_split(path, images, labels, names, *, compression=None, attrs=None):
    """Writes a prepared split to an HDF5 file, atomically; returns its Path.

    The file is written under a temporary name in the same folder and moved over
    `path` with `os.replace` once complete, so readers never see half a file and an
    existing file is replaced only by a complete one. (`SplitWriter` writes the same
    layout piece by piece, for splits too large to hold in memory.)

    Args:
        path: the .h5 file to write (its folder must exist).
        images: uint8 array (N, H, W, 3), e.g. (N, 64, 64, 3).
        labels: `{"length": (N,), "digits": (N, max_digits)}` as made by
            `kerasvhn.encode_numbers` (length max_digits + 1 means "more").
        names: N strings naming each image's source (e.g. "train/1.png").
        compression: None (default: fastest reads) or an h5py filter such as
            "gzip"; images are then chunked one image per chunk.
        attrs: extra file attributes (e.g. {"source": "SVHN format 1, train"}).

    Raises:
        ValueError: inconsistent shapes, a dtype other than uint8 for images, labels
            outside the label format.
    """
    images = _check_images(images)
    _, digits = check_labels(labels, images.shape[0], "labels")
    writer = SplitWriter(
        path, digits.shape[1], images.shape[1:], count=images.shape[0], compression=compression, attrs=attrs
    )
    with writer:
        writer.append(images, labels, names)
    return writer.path


class SplitWriter:
    """Writes a prepared split piece by piece into one HDF5 file, atomically.

    The one place that knows the file's layout (`write_split` uses it too). Use
    it as a context manager: the file is written under a temporary name in the
    same folder and moved over `path` with `os.replace` when the block ends
    without an exception; on an exception the temporary file is removed and an
    existing `path` is left as it was.

    >>> import os, tempfile
    >>> import numpy as np
    >>> from kerasvhn import encode_numbers
    >>> path = os.path.join(tempfile.mkdtemp(), "train.h5")
    >>> with SplitWriter(path, max_digits=5) as writer:
    ...     for start in (0, 3):
    ...         writer.append(np.zeros((3, 64, 64, 3), np.uint8), encode_numbers(["12"] * 3),
    ...                       [f"{start + i + 1}.png" for i in range(3)])
    >>> read_split(path)[0].shape, writer.count
    ((6, 64, 64, 3), 6)

    Args:
        path: the .h5 file to write (its folder must exist).
        max_digits: the width of the `digits` dataset.
        image_shape: (H, W, 3) of every image.
        count: the number of images when known in advance (datasets of that size,
            images contiguous unless compressed, as `write_split` writes them);
            None (default) for resizable datasets, images chunked one per chunk.
        compression: None or an h5py filter such as "gzip" (for the images).
        attrs: extra file attributes (e.g. {"settings": "..."}).
    """

    def __init__(self, path, max_digits, image_shape=(64, 64, 3), *, count=None, compression=None, attrs=None):
        self.path = Path(path)
        self.max_digits = int(max_digits)
        self.image_shape = tuple(int(d) for d in image_shape)
        if len(self.image_shape) != 3 or self.image_shape[-1] != 3:
            raise ValueError(f"image_shape must be (H, W, 3), got {image_shape!r}")
        self.expected = None if count is None else int(count)
        self.compression = compression
        self.attrs = dict(attrs or {})
        self.count = 0
        self._file = None
        self._temporary = None

    def __enter__(self):
        name = f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        self._temporary = self.path.with_name(name)
        self._file = h5py.File(self._temporary, "w-")
        try:
            self._create_datasets()
            self._file.attrs["format"] = FORMAT
            self._file.attrs["max_digits"] = self.max_digits
            for key, value in self.attrs.items():
                self._file.attrs[key] = value
        except BaseException:
            self._discard()
            raise
        return self

    def _create_datasets(self):
        f, size, width = self._file, self.expected, self.max_digits
        if size is None:  # resizable: chunked, grown by append
            rows = dict(shape=(0,), maxshape=(None,), chunks=(4096,))
            f.create_dataset("images", shape=(0, *self.image_shape), maxshape=(None, *self.image_shape),
                             dtype=np.uint8, chunks=(1, *self.image_shape), compression=self.compression)
            f.create_dataset("length", dtype=np.int32, **rows)
            f.create_dataset("digits", shape=(0, width), maxshape=(None, width), chunks=(4096, width),
                             dtype=np.int32)
            f.create_dataset("names", dtype=h5py.string_dtype("utf-8"), **rows)
            return
        chunks = (1, *self.image_shape) if self.compression and size else None
        f.create_dataset("images", shape=(size, *self.image_shape), dtype=np.uint8, chunks=chunks,
                         compression=self.compression)
        f.create_dataset("length", shape=(size,), dtype=np.int32)
        f.create_dataset("digits", shape=(size, width), dtype=np.int32)
        f.create_dataset("names", shape=(size,), dtype=h5py.string_dtype("utf-8"))

    def append(self, images, labels, names):
        """Writes the next images with their labels and names (as for `write_split`)."""
        if self._file is None:
            raise RuntimeError("SplitWriter.append outside its with block")
        images = _check_images(images)
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"images must be {self.image_shape}; got {images.shape[1:]}")
        length, digits = check_labels(labels, images.shape[0], "labels")
        if digits.shape[1] != self.max_digits:
            raise ValueError(f"labels have {digits.shape[1]} digit positions, the file {self.max_digits}")
        names = [str(name) for name in names]
        if len(names) != images.shape[0]:
            raise ValueError(f"got {len(names)} names for {images.shape[0]} images")
        start, stop = self.count, self.count + images.shape[0]
        if self.expected is not None and stop > self.expected:
            raise ValueError(f"{stop} images written to a split of {self.expected}")
        for key, rows in (("images", images), ("length", length), ("digits", digits), ("names", names)):
            dataset = self._file[key]
            if self.expected is None:
                dataset.resize(stop, axis=0)
            if stop > start:
                dataset[start:stop] = rows
        self.count = stop

    def __exit__(self, kind, error, traceback):
        if kind is not None:
            self._discard()
            return False
        try:
            if self.expected is not None and self.count != self.expected:
                raise ValueError(f"{self.count} images written to a split of {self.expected}")
            self._file.close()
            with open(self._temporary, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(self._temporary, self.path)
        except BaseException:
            self._discard()
            raise
        finally:
            self._file = None
        return False

    def _discard(self):
        try:
            if self._file is not None:
                self._file.close()
        finally:
            self._file = None
            self._temporary.unlink(missing_ok=True)


def _check_images(images):
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
    return images


def check_labels(labels, count, where):
    if not isinstance(labels, dict) or not {"length", "digits"} <= set(labels):
        raise ValueError(f"{where} must be a dict with 'length' and 'digits'")
    length = np.asarray(labels["length"]).reshape(-1)
    digits = np.asarray(labels["digits"])
    if digits.ndim != 2 or length.shape[0] != count or digits.shape[0] != count:
        raise ValueError(
            f"{where}: expected length ({count},) and digits ({count}, max_digits); got "
            f"length {length.shape} and digits {digits.shape}"
        )
    if not (np.issubdtype(length.dtype, np.integer) and np.issubdtype(digits.dtype, np.integer)):
        raise ValueError(f"{where}: length and digits must be integers")
    top = more_class(digits.shape[1])
    if length.size and (length.min() < 0 or length.max() > top):
        raise ValueError(f"{where}: length must be in 0..{top}")
    if digits.size and (digits.min() < 0 or digits.max() > 9):
        raise ValueError(f"{where}: digits must be in 0..9")
    return length.astype(np.int32), digits.astype(np.int32)


@contextlib.contextmanager
def open_split(path):
    """Opens a prepared split, checks its layout and labels, and yields (the images
    dataset, labels); clear errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prepared SVHN split not found: {path}")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path} is not a readable HDF5 file: {error}") from error
    with handle as f:
        for name in REQUIRED_DATASETS:
            if not isinstance(f.get(name), h5py.Dataset):
                raise ValueError(
                    f"{path} has no dataset {name!r} (it has {sorted(f.keys())}); a prepared "
                    "split holds 'images' uint8 (N, H, W, 3), 'length' (N,), 'digits' "
                    "(N, max_digits) and 'names' (see kerasvhn.data.splits)"
                )
        images = f["images"]
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"{path}: dataset 'images' must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
        labels = {"length": f["length"][()], "digits": f["digits"][()]}
        length, digits = check_labels(labels, images.shape[0], f"{path}: datasets 'length'/'digits'")
        yield images, {"length": length, "digits": digits}


def read_split(path):
    """(uint8 images (N, H, W, 3), labels) of a prepared split file, checked.

    >>> import tempfile, numpy as np
    >>> from kerasvhn.labels import encode_numbers
    >>> path = write_split(tempfile.mkdtemp() + "/s.h5", np.zeros((2, 64, 64, 3), np.uint8),
    ...                    encode_numbers(["1", "23"]), ["a.png", "b.png"])
    >>> images, labels = read_split(path)
    >>> images.shape, labels["length"].tolist()
    ((2, 64, 64, 3), [1, 2])
    """
    with open_split(path) as (images, labels):
        return images[()], labels
