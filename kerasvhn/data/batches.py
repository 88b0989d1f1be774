"""Batches of a prepared SVHN split for `model.fit` / `evaluate` / `predict`.

A prepared split is an HDF5 file (written by `write_split`) with the datasets

    images  uint8 (N, H, W, 3)        64x64 crops around the house numbers
    length  int32 (N,)                the label format of kerasvhn.sequence
    digits  int32 (N, max_digits)
    names   utf-8 strings (N,)        where each image came from (e.g. "train/1.png")

`SplitBatches` yields `(x, {"length": (B,), "digits": (B, max_digits)})` with x float32
in [0, 1] of shape (B, crop, crop, 3). Training: a random crop x crop window of each
image (its own offsets; the paper's augmentation: random 54x54 crops of the 64x64
images) and a new order every epoch, both drawn from `(seed, epoch)` so that they
do not depend on which worker builds which batch. Evaluation: centred crops, the
file's order, the last partial batch included (so is it in training).

    >>> import numpy as np
    >>> from kerasvhn import encode_numbers
    >>> from kerasvhn.data.batches import SplitBatches
    >>> images = np.zeros((10, 64, 64, 3), np.uint8)
    >>> batches = SplitBatches((images, encode_numbers(["12"] * 10)), batch_size=4)
    >>> len(batches), batches[0][0].shape, batches[2][1]["digits"].shape
    (3, (4, 54, 54, 3), (2, 5))
"""

import os
import threading
import uuid
from pathlib import Path

import h5py
import keras
import numpy as np

from kerasvhn.sequence import more_class

FORMAT = "kerasvhn-split-1"
REQUIRED_DATASETS = ("images", "length", "digits")
#: Splits whose images take less than this are read into memory at once (all of
#: SVHN's train and test splits); larger ones (extra) are read batch by batch.
IN_MEMORY_LIMIT = 2 * 1024**3


def write_split(path, images, labels, names, *, compression=None, attrs=None):
    """Writes a prepared split to an HDF5 file, atomically; returns its Path.

    The file is written under a temporary name in the same folder and moved over
    `path` with `os.replace` once complete, so readers never see half a file and an
    existing file is replaced only by a complete one.

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
    path = Path(path)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}"
        )
    length, digits = _check_labels(labels, images.shape[0], "labels")
    names = [str(name) for name in names]
    if len(names) != images.shape[0]:
        raise ValueError(f"got {len(names)} names for {images.shape[0]} images")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with h5py.File(temporary, "w-") as f:
            chunks = (1, *images.shape[1:]) if compression and images.shape[0] else None
            f.create_dataset("images", data=images, chunks=chunks, compression=compression)
            f.create_dataset("length", data=length)
            f.create_dataset("digits", data=digits)
            f.create_dataset("names", data=names, dtype=h5py.string_dtype("utf-8"))
            f.attrs["format"] = FORMAT
            f.attrs["max_digits"] = digits.shape[1]
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _check_labels(labels, count, where):
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


class SplitBatches(keras.utils.PyDataset):
    """Batches of a prepared split: random crops + reshuffling, or centred crops.

    Args:
        source: the path of an HDF5 file written by `write_split`, or in-memory
            `(images, labels)` / `(images, labels, names)` with images uint8
            (N, H, W, 3) and labels `{"length", "digits"}`.
        batch_size: images per batch (the last batch may be smaller).
        training: random crops and a new order each epoch (True), or centred
            crops in the file's order (False).
        crop: the side of the square crops fed to the model (54 for MultiDigitNet).
        seed: the seed of the orders and crop offsets; epoch e uses (seed, e).
        in_memory: "auto" (read all images at once when they take less than
            `IN_MEMORY_LIMIT`, 2 GiB: SVHN's train and test; otherwise read each
            batch from the file, its indices sorted as h5py requires), True or False.
        **kwargs: `keras.utils.PyDataset` arguments: workers, use_multiprocessing,
            max_queue_size.

    The HDF5 file is opened lazily, once per process (a worker process opens its
    own handle); the dataset pickles without its handle or, for a file, without
    its in-memory images, so multiprocessing workers read batches from the file.
    `len()` is the number of batches; `max_digits` comes from the labels.
    `model.fit(..., shuffle=True)` (the default) additionally shuffles the order of
    the batches with Python's `random`; the images in each batch are already
    shuffled from the seed. Note that Keras 3 calls `on_epoch_end()` once before
    the first epoch of `fit`/`evaluate`/`predict` (EpochIterator.reset), so a fresh
    dataset's first `fit` epoch uses epoch 1's order and crops, not epoch 0's.
    """

    def __init__(self, source, batch_size=64, training=True, crop=54, seed=0, in_memory="auto", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if in_memory not in ("auto", True, False):
            raise ValueError(f'in_memory must be "auto", True or False, got {in_memory!r}')
        self.batch_size = batch_size
        self.training = bool(training)
        self.crop = int(crop)
        self.seed = int(seed)
        self.epoch = 0
        self.path = None
        self._names = None
        self._images = None
        self._file = None
        self._file_pid = None
        self._lock = threading.Lock()
        if isinstance(source, (str, os.PathLike)):
            self.path = Path(source)
            self._load_file(in_memory)
        else:
            self._load_arrays(source)
        count, height, width, _ = self.image_shape
        if not 1 <= self.crop <= min(height, width):
            raise ValueError(f"crop must be in 1..{min(height, width)} for {height}x{width} images, got {crop!r}")
        self._plan()

    # -- sources ----------------------------------------------------------------

    def _load_arrays(self, source):
        if not isinstance(source, (tuple, list)) or len(source) not in (2, 3):
            raise TypeError(
                "source must be the path of a split file or (images, labels[, names]), "
                f"got {type(source).__name__}"
            )
        images = np.asarray(source[0])
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}")
        self._length, self._digits = _check_labels(source[1], images.shape[0], "labels")
        if len(source) == 3:
            self._names = [str(name) for name in source[2]]
            if len(self._names) != images.shape[0]:
                raise ValueError(f"got {len(self._names)} names for {images.shape[0]} images")
        self._images = images
        self.image_shape = images.shape

    def _load_file(self, in_memory):
        path = self.path
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
                        "(N, max_digits) and 'names' (see kerasvhn.data.batches.write_split)"
                    )
            images = f["images"]
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
                raise ValueError(
                    f"{path}: dataset 'images' must be uint8 (N, H, W, 3); got {images.dtype} {images.shape}"
                )
            self.image_shape = images.shape
            labels = {"length": f["length"][()], "digits": f["digits"][()]}
            self._length, self._digits = _check_labels(labels, images.shape[0], f"{path}: datasets 'length'/'digits'")
            nbytes = int(np.prod(images.shape))
            if in_memory is True or (in_memory == "auto" and nbytes < IN_MEMORY_LIMIT):
                self._images = images[()]

    def _dataset(self):
        """The 'images' dataset of this process's handle (opened on first use)."""
        with self._lock:
            if self._file is None or self._file_pid != os.getpid():
                self._file = h5py.File(self.path, "r")
                self._file_pid = os.getpid()
            return self._file["images"]

    def _read(self, ids):
        if self._images is not None:
            return self._images[ids]
        dataset = self._dataset()
        if ids.size and ids[-1] - ids[0] == ids.size - 1 and np.all(np.diff(ids) == 1):
            return dataset[int(ids[0]) : int(ids[-1]) + 1]  # contiguous: one slice
        order = np.argsort(ids, kind="stable")
        out = np.empty((ids.size, *self.image_shape[1:]), np.uint8)
        out[order] = dataset[ids[order]]  # h5py wants increasing indices
        return out

    def close(self):
        """Closes the file handle (reopened if batches are asked for again)."""
        with self._lock:
            if self._file is not None and self._file_pid == os.getpid():
                self._file.close()
            self._file = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"] = None
        state["_file_pid"] = None
        state["_lock"] = None
        if self.path is not None:
            state["_images"] = None  # workers read their batches from the file
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- epochs -----------------------------------------------------------------

    def _plan(self):
        count, height, width, _ = self.image_shape
        if self.training:
            rng = np.random.default_rng([self.seed, self.epoch])
            self._order = rng.permutation(count)
            self._offsets = rng.integers(0, [height - self.crop + 1, width - self.crop + 1], size=(count, 2))
        else:
            self._order = np.arange(count)
            centre = [(height - self.crop) // 2, (width - self.crop) // 2]
            self._offsets = np.broadcast_to(np.array(centre), (count, 2))

    def set_epoch(self, epoch):
        """Uses the order and crops of `epoch` (e.g. when resuming training)."""
        self.epoch = int(epoch)
        self._plan()

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)

    # -- batches ----------------------------------------------------------------

    @property
    def max_digits(self):
        return self._digits.shape[1]

    @property
    def num_images(self):
        return self.image_shape[0]

    @property
    def labels(self):
        """All labels in the file's order: {"length": (N,), "digits": (N, max_digits)}."""
        return {"length": self._length, "digits": self._digits}

    @property
    def names(self):
        """The images' names (from the file, or as given; None if not given)."""
        if self._names is None and self.path is not None:
            with h5py.File(self.path, "r") as f:
                self._names = list(f["names"].asstr()[()]) if "names" in f else None
        return self._names

    def batch_indices(self, index):
        """The file positions of the images of batch `index` in the current epoch."""
        start = index * self.batch_size
        return self._order[start : start + self.batch_size]

    def __len__(self):
        return -(-self.num_images // self.batch_size)

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        start = index * self.batch_size
        ids = self._order[start : start + self.batch_size]
        offsets = self._offsets[start : start + self.batch_size]
        images = self._read(ids)
        size = self.crop
        crops = np.empty((ids.size, size, size, 3), np.uint8)
        for row, (top, left) in enumerate(offsets):
            crops[row] = images[row, top : top + size, left : left + size]
        x = crops.astype(np.float32)
        x /= np.float32(255)
        return x, {"length": self._length[ids], "digits": self._digits[ids]}


def read_split(path):
    """(uint8 images (N, H, W, 3), labels) of a prepared split file, checked as
    SplitBatches checks it."""
    batches = SplitBatches(path, training=False, in_memory=True)
    return batches._images, {"length": batches._length, "digits": batches._digits}
