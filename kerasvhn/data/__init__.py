"""The data path: parse -> prepare -> batches (and synthetic house numbers).

- `read_digitstruct(path)`: SVHN format-1 labels (digitStruct.mat), Cython fast path.
- `prepare(src, out)`: the paper's crops, one cached HDF5 file per split.
- `SplitBatches(path_or_arrays, ...)`: a keras PyDataset of random (training) or
  centred (evaluation) 54x54 crops.
- `download_svhn(data_dir)`: the official tarballs, resumable and verified.
- `synthesize(out, count, seed)`: synthetic street scenes as an SVHN format-1 folder;
  `render_numbers(count, seed)`: the same scenes framed 64x64 in memory.

>>> from kerasvhn.data import render_numbers
>>> images, labels = render_numbers(2, seed=1)
>>> images.shape, sorted(labels)
((2, 64, 64, 3), ['digits', 'length'])
"""

from kerasvhn.data.batches import SplitBatches, write_split
from kerasvhn.data.digitstruct import DigitStruct, DigitStructError, read_digitstruct
from kerasvhn.data.download import DownloadError, download_svhn
from kerasvhn.data.prepare import PrepareError, prepare, prepare_split
from kerasvhn.data.synth import render_numbers, render_scene, synthesize

__all__ = [
    "DigitStruct",
    "DigitStructError",
    "DownloadError",
    "PrepareError",
    "SplitBatches",
    "download_svhn",
    "prepare",
    "prepare_split",
    "read_digitstruct",
    "render_numbers",
    "render_scene",
    "synthesize",
    "write_split",
]
