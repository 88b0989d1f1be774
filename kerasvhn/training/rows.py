"""Batches of chosen rows of several prepared split files, for `model.fit`.

What `kerasvhn.data.batches.SplitBatches` does for one whole split, `RowBatches`
does for the rows of several (train and extra less their validation images):
`(x, {"length", "digits"})` with x float32 in [0, 1] of shape (B, crop, crop, 3).
Training: one order over all the rows and a random crop of each image, both drawn
from `(seed, epoch)` (the epoch is set by whoever drives the epochs: `set_epoch`,
which `kerasvhn.training.long_run.DataEpoch` calls at the start of each); images
whose split is small enough are held in memory, the others (SVHN's extra split) are
read image by image from the file. Evaluation: centred crops in the rows' order.

    >>> import os, tempfile, numpy as np
    >>> from kerasvhn import encode_numbers
    >>> from kerasvhn.data.splits import write_split
    >>> path = write_split(os.path.join(tempfile.mkdtemp(), "s.h5"), np.zeros((10, 64, 64, 3), np.uint8),
    ...                    encode_numbers(["12"] * 10), [f"{i}.png" for i in range(10)])
    >>> batches = RowBatches([(path, [0, 2, 4, 6, 8])], batch_size=2)
    >>> len(batches), batches[2][0].shape
    (3, (1, 54, 54, 3))
"""

import os
import threading

import h5py
import keras
import numpy as np

from kerasvhn.data.batches import IN_MEMORY_LIMIT
from kerasvhn.data.splits import open_split


class _Source:
    """The chosen rows of one split file: their labels, and their images in memory
    (small files) or read from the file on demand (one handle per process)."""

    def __init__(self, path, rows, in_memory_limit):
        self.path = os.fspath(path)
        self.rows = np.asarray(rows, np.int64)
        with open_split(self.path) as (images, labels):
            self.image_shape = images.shape[1:]
            if self.rows.size and (self.rows.min() < 0 or self.rows.max() >= images.shape[0]):
                raise ValueError(f"rows outside the {images.shape[0]} images of {self.path}")
            self.length = labels["length"][self.rows]
            self.digits = labels["digits"][self.rows]
            self.images, self._indexed_by = None, None
            if self.rows.size * int(np.prod(self.image_shape)) < in_memory_limit:
                self._load(images)
        self._file, self._pid, self._lock = None, None, threading.Lock()

    def _load(self, images):
        """Most of a file: all of it, indexed by row; a few rows: just those, by position."""
        if 2 * self.rows.size >= images.shape[0]:
            self.images, self._indexed_by = images[()], "row"
        else:
            self.images, self._indexed_by = self._read_rows(images, self.rows), "position"

    def _read_rows(self, dataset, rows):
        # One read per image: h5py's list indexing is far slower on one-image chunks.
        out = np.empty((rows.size, *self.image_shape), np.uint8)
        for index, row in enumerate(rows.tolist()):
            out[index] = dataset[row]
        return out

    def read(self, positions):
        """The images at these positions among the chosen rows (uint8 (n, H, W, 3))."""
        if self._indexed_by == "position":
            return self.images[positions]
        rows = self.rows[positions]
        if self._indexed_by == "row":
            return self.images[rows]
        with self._lock:
            if self._file is None or self._pid != os.getpid():
                self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
            return self._read_rows(self._file["images"], rows)

    def __getstate__(self):
        return dict(self.__dict__, _file=None, _pid=None, _lock=None)

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())


class RowBatches(keras.utils.PyDataset):
    """Batches of the chosen rows of prepared split files: random or centred crops.

    Args:
        sources: [(path, rows)]: split files (as `kerasvhn prepare` writes them) and
            the rows of each to use (e.g. train less its validation images).
        batch_size: images per batch.
        training: one shuffled order over all rows and random crops (True), or the
            rows in order with centred crops (False).
        crop: the side of the square crops (54 for MultiDigitNet).
        seed: the seed of the orders and crops: epoch e draws from (seed, e).
        max_batches: use only the first max_batches batches of each epoch's order
            (a bounded run); None for all.
        drop_remainder: leave out the last, smaller batch (for devices that need
            equal shares of each batch).
        pad_to: when > 1, every batch is padded to a multiple of pad_to with
            repeated images and sample weights 0 (its own images weigh 1): the
            batches are (x, y, weights). For evaluating on jax's DataParallel.
        in_memory_limit: splits whose images take fewer bytes are read into memory.
        **kwargs: `keras.utils.PyDataset`'s workers, use_multiprocessing, max_queue_size.
    """

    def __init__(self, sources, batch_size=64, training=True, crop=54, seed=0, max_batches=None,
                 drop_remainder=False, pad_to=1, in_memory_limit=IN_MEMORY_LIMIT, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.batch_size, self.training, self.crop, self.seed = batch_size, bool(training), int(crop), int(seed)
        self.max_batches, self.drop_remainder, self.pad_to = max_batches, bool(drop_remainder), int(pad_to)
        self._sources = [_Source(path, rows, in_memory_limit) for path, rows in sources]
        shapes = {source.image_shape for source in self._sources}
        if len(shapes) != 1:
            raise ValueError(f"the split files hold images of different shapes: {sorted(shapes)}")
        self.image_shape = shapes.pop()
        if not 1 <= self.crop <= min(self.image_shape[:2]):
            raise ValueError(f"crop must be in 1..{min(self.image_shape[:2])}, got {crop!r}")
        self._which = np.concatenate([np.full(s.rows.size, i) for i, s in enumerate(self._sources)])
        self._position = np.concatenate([np.arange(s.rows.size) for s in self._sources])
        self.epoch = 0
        self._plan()

    @property
    def num_images(self):
        return int(self._which.size)

    def set_epoch(self, epoch):
        """Uses the order and crops of `epoch`."""
        self.epoch = int(epoch)
        self._plan()

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)

    def _plan(self):
        height, width = self.image_shape[:2]
        if self.training:
            rng = np.random.default_rng([self.seed, self.epoch])
            self._order = rng.permutation(self.num_images)
            self._offsets = rng.integers(0, [height - self.crop + 1, width - self.crop + 1], size=(self.num_images, 2))
        else:
            self._order = np.arange(self.num_images)
            self._offsets = np.broadcast_to(np.array([(height - self.crop) // 2, (width - self.crop) // 2]),
                                            (self.num_images, 2))

    def __len__(self):
        count = self.num_images // self.batch_size if self.drop_remainder else -(-self.num_images // self.batch_size)
        return count if self.max_batches is None else min(count, int(self.max_batches))

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        ids = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        images = np.empty((ids.size, *self.image_shape), np.uint8)
        length = np.empty(ids.size, np.int32)
        digits = np.empty((ids.size, self._sources[0].digits.shape[1]), np.int32)
        for number, source in enumerate(self._sources):
            mine = np.flatnonzero(self._which[ids] == number)
            positions = self._position[ids[mine]]
            images[mine] = source.read(positions)
            length[mine], digits[mine] = source.length[positions], source.digits[positions]
        x = self._crops(images, self._offsets[index * self.batch_size:(index + 1) * self.batch_size])
        return self._padded(x, {"length": length, "digits": digits})

    def _crops(self, images, offsets):
        size = self.crop
        crops = np.empty((images.shape[0], size, size, 3), np.uint8)
        for row, (top, left) in enumerate(offsets):
            crops[row] = images[row, top:top + size, left:left + size]
        x = crops.astype(np.float32)
        x /= np.float32(255)
        return x

    def _padded(self, x, y):
        if self.pad_to <= 1:
            return x, y
        count = x.shape[0]
        extra = -count % self.pad_to
        weights = np.concatenate([np.ones(count, np.float32), np.zeros(extra, np.float32)])
        if extra:
            x = np.concatenate([x, np.repeat(x[:1], extra, axis=0)])
            y = {key: np.concatenate([value, np.repeat(value[:1], extra, axis=0)]) for key, value in y.items()}
        return x, y, weights

    def arrays(self):
        """All the images (uint8, in the rows' order) and their labels, for
        `kerasvhn.evaluate.evaluate_model`."""
        images = np.concatenate([source.read(np.arange(source.rows.size)) for source in self._sources])
        labels = {"length": np.concatenate([s.length for s in self._sources]),
                  "digits": np.concatenate([s.digits for s in self._sources])}
        return images, labels
