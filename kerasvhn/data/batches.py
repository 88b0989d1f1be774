"""Batches of a prepared SVHN split for `model.fit` / `evaluate` / `predict`.

A prepared split is the HDF5 file `kerasvhn.data.splits` describes (images,
length, digits, names). `SplitBatches` yields `(x, {"length": (B,), "digits": (B, max_digits)})` with x float32
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
from pathlib import Path

import h5py
import keras
import numpy as np

from kerasvhn.data.splits import check_labels, open_split

#: Splits whose images take less than this are read into memory at once (all of
#: SVHN's train and test splits); larger ones (extra) are read batch by batch.
IN_MEMORY_LIMIT = 2 * 1024**3


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
        self._length, self._digits = check_labels(source[1], images.shape[0], "labels")
        if len(source) == 3:
            self._names = [str(name) for name in source[2]]
            if len(self._names) != images.shape[0]:
                raise ValueError(f"got {len(self._names)} names for {images.shape[0]} images")
        self._images = images
        self.image_shape = images.shape

    def _load_file(self, in_memory):
        with open_split(self.path) as (images, labels):
            self.image_shape = images.shape
            self._length, self._digits = labels["length"], labels["digits"]
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
        out = np.empty((ids.size, *self.image_shape[1:]), np.uint8)
        for row, index in enumerate(ids.tolist()):
            # One read per image: h5py's list indexing is ~4x slower on contiguous
            # images and ~100x on images stored one per chunk (what SplitWriter writes).
            out[row] = dataset[index]
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
