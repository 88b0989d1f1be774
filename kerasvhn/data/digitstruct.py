"""Reads SVHN format-1 `digitStruct.mat` files (MATLAB v7.3) into columns.

`read_digitstruct(path)` returns a `DigitStruct`: the image names and, for all
boxes of all images in one flat float64 array per field, `label/left/top/width/
height`, with `offsets` delimiting each image's boxes.

>>> import os, tempfile
>>> from kerasvhn.data.digitstruct_writer import write_digitstruct
>>> path = os.path.join(tempfile.mkdtemp(), "digitStruct.mat")
>>> _ = write_digitstruct(path, [
...     {"name": "1.png", "label": [1.0, 9.0], "left": [246.0, 323.0], "top": [77.0, 81.0],
...      "width": [81.0, 96.0], "height": [219.0, 219.0]},
...     {"name": "2.png", "label": [10.0], "left": [77.0], "top": [29.0], "width": [23.0], "height": [32.0]}])
>>> boxes = read_digitstruct(path)
>>> len(boxes), boxes.names, boxes.offsets.tolist()
(2, ['1.png', '2.png'], [0, 2, 3])
>>> boxes[1]
{'name': '2.png', 'label': [10.0], 'left': [77.0], 'top': [29.0], 'width': [23.0], 'height': [32.0]}
>>> [record["label"] for record in boxes.records()]
[[1.0, 9.0], [10.0]]
>>> boxes.numbers(), boxes.labels(max_digits=5)["length"].tolist()
(['19', '0'], [2, 1])

How it reads. The file is opened with h5py, which checks the superblock and reads
the two (N, 1) reference arrays `/digitStruct/name` and `/digitStruct/bbox`. The
objects they point to (about 20 tiny HDF5 objects per image) are then walked
straight from the file's bytes (never from a memory map of the file itself: see
below), by a Cython loop (`_digitstruct.pyx`)
or by its pure-Python twin below (`KERASVHN_NO_EXTENSIONS=1`, or no compiled
extension), instead of one h5py dereference per value (3-5 ms per image).

The walk accepts only what it fully understands and checks, per image: version-1
object headers whose message sizes, count and continuation chunks stay inside the
file; the float64 / uint16 / object-reference datatypes byte for byte; compact or
contiguous storage whose size matches the vector shape (dimensions within their
maxima); well-formed fill-value and attribute messages (no MATLAB_empty); unshared
messages of known types only (no filters, external files, new-style groups, dense
attributes); for each bbox group, a local heap with a sound free list, one leaf
B-tree node whose keys bracket its symbol nodes' sorted names (what libhdf5's
lookup relies on) and each of the five fields exactly once, with equal box
counts. Any image it declines -- another writer's layout, chunked or compressed
storage, MATLAB empties, damage -- is read through h5py instead (`fallback`
lists them), so all methods return the same result; the tests check that on
fuzzed files too.

A file truncated or rewritten while it is read gives a DigitStructError, never a
crash: the walk works on its own copy of the bytes (a memory map of a file that
shrinks raises SIGBUS), read into memory or, past 256 MB, a private temporary copy
mapped and walked in slices so that memory stays bounded; and the file's size,
modification time and inode are compared before and after. Whatever shapes a
damaged or crafted file declares, nothing larger than the file could hold is
allocated: at most size / 8 images, size / 8 boxes, size / 2 name characters, and
no single value array larger than the file (a chunked dataset can declare 10^12
values in a few kilobytes).
"""

import contextlib
import mmap
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

FIELDS = ("label", "left", "top", "width", "height")
NO_EXTENSIONS_VARIABLE = "KERASVHN_NO_EXTENSIONS"

# Status of one image after the layout walk; 0 = read, any other = read via h5py.
STATUS = (
    "read",
    "no version-1 object header at the referenced address",
    "object header message out of bounds, repeated or miscounted",
    "not a dataset where one is expected",
    "datatype other than float64, uint16 chars or object references",
    "storage other than compact or contiguous (chunked, compressed, unwritten)",
    "not a vector, or storage size disagrees with the shape",
    "bbox group's symbol table not as MATLAB writes it",
    "bbox fields hold different numbers of boxes",
    "MATLAB_empty value",
    "object header message not understood (shared, new-style group, filters...)",
)
_OK, _BAD_HEADER, _BAD_MESSAGE, _NOT_DATASET, _UNSUPPORTED_TYPE, _UNSUPPORTED_LAYOUT = range(6)
_BAD_SHAPE, _BAD_GROUP, _FIELD_COUNTS, _MATLAB_EMPTY, _UNSUPPORTED_MESSAGE = range(6, 11)

_PARALLEL_MIN_IMAGES = 4096
_SLICE = 16384  # images walked between two hand-backs of a mapped file's pages
#: Files up to this size are read into memory for the walk; larger ones are copied
#: to a private temporary file and mapped (see `_file_view`).
IN_MEMORY_LIMIT = 256 * 1024**2
_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class DigitStructError(ValueError):
    """A digitStruct.mat that cannot be read; the message names the file and what
    is wrong with it."""


class DigitStruct:
    """SVHN format-1 boxes in columns.

    names: list of N image names. label, left, top, width, height: float64 arrays
    of all boxes, image i's boxes at [offsets[i]:offsets[i + 1]] (offsets: int64,
    N + 1). Values are the file's own: label 10 is the digit 0. `method` tells how
    the file was read ("fast", "pure" or "h5py") and `fallback` which images were
    read through h5py because the layout walk declined them.
    """

    def __init__(self, names, label, left, top, width, height, offsets, method=None, fallback=()):
        self.names = list(names)
        self.offsets = np.asarray(offsets, np.int64)
        columns = (label, left, top, width, height)
        for field, column in zip(FIELDS, columns):
            setattr(self, field, np.asarray(column, np.float64))
        if (
            self.offsets.shape != (len(self.names) + 1,)
            or self.offsets[0] != 0
            or np.any(np.diff(self.offsets) < 0)
        ):
            raise ValueError("offsets must be N + 1 non-decreasing values starting at 0")
        for field in FIELDS:
            if getattr(self, field).shape != (self.offsets[-1],):
                raise ValueError(f"{field} must hold offsets[-1] = {self.offsets[-1]} values")
        self.method = method
        self.fallback = np.asarray(fallback, np.int64)

    def __len__(self):
        return len(self.names)

    def __repr__(self):
        return f"<DigitStruct: {len(self)} images, {int(self.offsets[-1])} boxes>"

    def counts(self):
        """Number of boxes (digits) of each image: int64 (N,)."""
        return np.diff(self.offsets)

    def __getitem__(self, index):
        """Image index's record (see `records`)."""
        index = range(len(self))[index]
        start, stop = self.offsets[index], self.offsets[index + 1]
        record = {"name": self.names[index]}
        record.update({f: getattr(self, f)[start:stop].tolist() for f in FIELDS})
        return record

    def records(self):
        """Yields one dict per image: {"name": str, "label": [...], "left": [...],
        "top": [...], "width": [...], "height": [...]} with the file's float values."""
        columns = {f: getattr(self, f).tolist() for f in FIELDS}
        bounds = self.offsets.tolist()
        for index, name in enumerate(self.names):
            start, stop = bounds[index], bounds[index + 1]
            record = {"name": name}
            record.update({f: columns[f][start:stop] for f in FIELDS})
            yield record

    def numbers(self):
        """Each image's number as a string of digits 0-9 (the file's label 10 is 0).

        Labels must be whole numbers in 1..10 (`read_digitstruct` checks that)."""
        digits = (self.label.astype(np.int64) % 10 + ord("0")).astype(np.uint8).tobytes().decode("ascii")
        bounds = self.offsets.tolist()
        return [digits[bounds[i] : bounds[i + 1]] for i in range(len(self))]

    def labels(self, max_digits=5):
        """kerasvhn's label format {"length", "digits"} (`kerasvhn.labels.
        encode_numbers`): a number longer than max_digits gets the "more" class."""
        from kerasvhn.labels import encode_numbers

        return encode_numbers(self.numbers(), max_digits)


def read_digitstruct(path, method="auto"):
    """Reads an SVHN format-1 digitStruct.mat (MATLAB v7.3) into a `DigitStruct`.

    method: "auto" (the compiled walk, or its pure-Python twin when the extension
    is not built or KERASVHN_NO_EXTENSIONS=1), "fast" (the compiled walk; an
    ImportError when it is not built), "pure" (the Python walk) or "h5py" (one h5py
    dereference per value, for every image; the slow reference). All give the
    same result. Raises DigitStructError (a ValueError) naming the file and the
    problem for a missing, damaged or non-SVHN file, and for boxes that are not
    finite, have negative width or height, or labels outside 1..10. Boxes may
    start left of or above the image (negative left/top), as a few SVHN boxes do.
    """
    path = os.fspath(path)
    if method not in ("auto", "fast", "pure", "h5py"):
        raise ValueError(f'method must be "auto", "fast", "pure" or "h5py", got {method!r}')
    walker = None if method == "h5py" else _walker(method)
    import h5py

    stamp = _stamp(path)
    with _open(path, h5py) as handle:
        if stamp is None:  # appeared between the two looks
            raise _changed(path)
        result = _read(handle, path, walker, h5py, stamp[2])
    if _stamp(path) != stamp:
        raise _changed(path)
    _check_values(result, path)
    return result


def _stamp(path):
    """(device, inode, size, mtime in ns) of a file, or None: what tells that it changed."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


class _H5pyErrors:
    """Turns whatever h5py/libhdf5 raises on a damaged file into DigitStructError."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or isinstance(error, DigitStructError) or not isinstance(error, Exception):
            return False
        raise DigitStructError(
            f"{self.what}: damaged or not as SVHN writes it ({type(error).__name__}: {error})"
        ) from error


def extension_available():
    """Whether the compiled walk can be used: built, and not switched off by
    KERASVHN_NO_EXTENSIONS=1."""
    try:
        _extension()
    except ImportError:
        return False
    return True


def _extension():
    if os.environ.get(NO_EXTENSIONS_VARIABLE) == "1":
        raise ImportError(f"the compiled digitStruct walk is switched off by {NO_EXTENSIONS_VARIABLE}=1")
    from kerasvhn.data import _digitstruct

    return _digitstruct


def _walker(method):
    """(name, module with parse_structure/parse_values) for the layout walk."""
    if method == "pure":
        return "pure", _PureWalk
    try:
        return "fast", _extension()
    except ImportError:
        if method == "fast":
            raise
        return "pure", _PureWalk


def _open(path, h5py):
    if not os.path.exists(path):
        raise DigitStructError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DigitStructError(f"{path}: is a directory, not a digitStruct.mat file")
    try:
        with open(path, "rb") as raw:
            head = raw.read(128)
    except OSError as error:
        raise DigitStructError(f"{path}: cannot be read ({error})") from error
    if head.startswith(b"MATLAB 5.0 MAT-file"):
        raise DigitStructError(f"{path}: a MATLAB v5/v7 MAT-file; SVHN's digitStruct.mat is v7.3 (HDF5)")
    try:
        return h5py.File(path, "r")
    except Exception as error:
        raise DigitStructError(
            f"{path}: not an HDF5 (MATLAB v7.3) file, or truncated/damaged ({error})"
        ) from error


def _top_datasets(handle, path, h5py, size):
    """The (name, bbox) datasets and N, after checking they are what MATLAB writes
    and that the file can hold N references (8 bytes each)."""
    group = handle.get("digitStruct")
    if not isinstance(group, h5py.Group):
        raise DigitStructError(f"{path}: no /digitStruct group (not an SVHN format-1 digitStruct.mat)")
    datasets, counts = [], []
    for key in ("name", "bbox"):
        dataset = group.get(key)
        if not isinstance(dataset, h5py.Dataset):
            raise DigitStructError(f"{path}: /digitStruct has no {key} dataset")
        if _matlab_empty(dataset):
            counts.append(0)
        else:
            if h5py.check_dtype(ref=dataset.dtype) is not h5py.Reference or not dataset.id.get_type().equal(
                h5py.h5t.STD_REF_OBJ
            ):
                raise DigitStructError(f"{path}: /digitStruct/{key} is not an array of object references")
            shape = dataset.shape
            if len(shape) not in (1, 2) or (len(shape) == 2 and 1 not in shape):
                raise DigitStructError(f"{path}: /digitStruct/{key} has shape {shape}, expected (N, 1)")
            counts.append(int(np.prod(shape, dtype=object)))
            if counts[-1] * 8 > size:
                raise DigitStructError(
                    f"{path}: /digitStruct/{key} declares {counts[-1]} references, more than a file of "
                    f"{size} bytes holds"
                )
        datasets.append(dataset)
    if counts[0] != counts[1]:
        raise DigitStructError(f"{path}: /digitStruct/name has {counts[0]} entries but bbox has {counts[1]}")
    return datasets[0], datasets[1], counts[0]


def _matlab_empty(dataset):
    """MATLAB stores an empty value as its uint64 dimensions flagged MATLAB_empty."""
    if dataset.dtype != np.uint64 or "MATLAB_empty" not in dataset.attrs:
        return False
    return bool(np.asarray(dataset.attrs["MATLAB_empty"]).ravel()[:1].all())


def _addresses(dataset, h5py):
    """Raw object-reference values (header addresses relative to the base)."""
    addresses = np.empty(dataset.shape, np.uint64)
    if addresses.size:
        dataset.id.read(h5py.h5s.ALL, h5py.h5s.ALL, addresses, mtype=h5py.h5t.STD_REF_OBJ)
    return addresses.reshape(-1)


def _read(handle, path, walker, h5py, size):
    with _H5pyErrors(path):
        name_dataset, bbox_dataset, n = _top_datasets(handle, path, h5py, size)
    if n == 0:
        return DigitStruct([], *([np.zeros(0)] * 5), [0], method=walker[0] if walker else "h5py")
    status = np.full(n, -1, np.int64)  # -1: not walked (method "h5py" or an unusual superblock)
    walked = None
    if walker is not None:
        with _H5pyErrors(f"{path}: /digitStruct/name or bbox"):
            name_address = _addresses(name_dataset, h5py)
            bbox_address = _addresses(bbox_dataset, h5py)
            base = handle.id.get_create_plist().get_userblock()
        walked = _walk(path, size, base, name_address, bbox_address, walker[1])
        if walked is not None:
            status = walked[0]
    fallback = np.flatnonzero(status != _OK)
    safe = _read_declined(handle, path, h5py, size, (name_dataset, bbox_dataset), fallback, walked)
    method = walker[0] if walker is not None else "h5py"
    return _assemble(n, walked, safe, fallback, method)


def _read_declined(handle, path, h5py, size, datasets, fallback, walked):
    """{index: (name, columns)} of the images the walk declined, read through h5py;
    the boxes and name characters of all images together stay within what a file
    of `size` bytes holds (`_check_totals`)."""
    if not len(fallback):
        return {}
    with _H5pyErrors(f"{path}: /digitStruct/name or bbox"):
        name_refs, bbox_refs = (dataset[()].reshape(-1) for dataset in datasets)
    boxes = chars = 0
    if walked is not None:
        ok = walked[0] == _OK
        boxes, chars = (int(np.sum(np.diff(offsets)[ok])) for offsets in walked[1:3])
    safe = {}
    for index in fallback.tolist():
        with _H5pyErrors(f"{path}: image {index}"):
            name, columns = _read_image_h5py(handle, path, index, name_refs[index], bbox_refs[index], h5py, size)
        boxes, chars = boxes + len(columns[0]), chars + len(name)
        _check_totals(path, size, boxes, chars)
        safe[index] = name, columns
    return safe


def _walk(path, size, base, name_address, bbox_address, walk):
    """Runs the two passes of the layout walk over the file's bytes (`size` of
    them); None when the superblock is not one the walk reads (the caller then
    uses h5py)."""
    n = len(name_address)
    if size < base + 96:
        return None
    with _file_view(path, size) as buffer:
        if not _superblock_supported(buffer, base):
            return None
        info = np.zeros((n, 14), np.int64)
        _run_slices(
            lambda a, b: walk.parse_structure(buffer, base, name_address, bbox_address, info, a, b),
            n, walk, buffer,
        )
        ok = info[:, 0] == _OK
        box_offsets = np.concatenate([[0], np.cumsum(np.where(ok, info[:, 3], 0))]).astype(np.int64)
        name_offsets = np.concatenate([[0], np.cumsum(np.where(ok, info[:, 2], 0))]).astype(np.int64)
        _check_totals(path, size, int(box_offsets[-1]), int(name_offsets[-1]))
        chars = np.zeros(name_offsets[-1], np.uint16)
        values = np.zeros((5, box_offsets[-1]), np.float64)
        _run_slices(
            lambda a, b: walk.parse_values(buffer, base, info, box_offsets, name_offsets, chars, values, a, b),
            n, walk, buffer,
        )
    return info[:, 0].copy(), box_offsets, name_offsets, chars, values


@contextlib.contextmanager
def _file_view(path, size):
    """The file's `size` bytes for the walk, which never reads the file itself: a
    file truncated under a memory map raises SIGBUS, which kills the process.
    Files up to IN_MEMORY_LIMIT bytes are read into memory. A larger one (extra's
    is about 1.4 GB: some 7 KB per image) is copied to a private temporary file,
    which nothing else can truncate, and that copy is mapped; `_run_slices` hands
    its pages back after each slice of images, so the walk's memory stays bounded.
    Without room for the copy, the file is read into memory after all."""
    if size <= IN_MEMORY_LIMIT:
        yield _file_bytes(path, size)
        return
    try:
        copy = _private_copy(path, size)
    except OSError:
        copy = None
    if copy is None:
        yield _file_bytes(path, size)
        return
    with copy, mmap.mmap(copy.fileno(), size, access=mmap.ACCESS_READ) as view:
        yield view


def _private_copy(path, size):
    """An unnamed temporary copy of the file (beside it, or in the temporary folder)."""
    try:
        copy = tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(path)))
    except OSError:
        copy = tempfile.TemporaryFile()
    try:
        with open(path, "rb") as source:
            _copy_file(source, copy)
        copied = os.fstat(copy.fileno()).st_size
        if copied != size:
            raise _changed(path, size, copied)
    except BaseException:
        copy.close()
        raise
    return copy


def _copy_file(source, copy):
    """Copies source to its end into the empty file copy: in the kernel (sendfile,
    several times faster) where it can, else through a 16 MB buffer."""
    try:
        sent = 0
        while True:
            count = os.sendfile(copy.fileno(), source.fileno(), sent, 1 << 30)
            if not count:
                return
            sent += count
    except (AttributeError, OSError):
        if os.fstat(copy.fileno()).st_size:
            raise  # failed part-way (no space left...): not for want of sendfile
    source.seek(0)
    shutil.copyfileobj(source, copy, 1 << 24)
    copy.flush()


def _file_bytes(path, size):
    """The file's `size` bytes, read once into memory."""
    try:
        with open(path, "rb") as raw:
            data = raw.read(size + 1)
    except OSError as error:
        raise DigitStructError(f"{path}: cannot be read ({error})") from error
    if len(data) != size:
        raise _changed(path, size, len(data))
    return data


def _changed(path, size=None, now=None):
    """The error for a file that changed while it was read (sizes when known)."""
    sizes = "" if size is None else f" ({size} bytes, then {now}{'+' if now > size else ''})"
    return DigitStructError(f"{path}: changed while being read{sizes}; read it again once it is complete")


def _check_totals(path, size, boxes, chars):
    """Each box takes at least 8 bytes of the file per field and each name character
    2: more means objects shared between images, which no MATLAB file does, and
    would let a small file claim unbounded memory."""
    if boxes * 8 > size or chars * 2 > size:
        raise DigitStructError(
            f"{path}: its images declare {boxes} boxes and {chars} name characters, more than a "
            f"file of {size} bytes holds (objects shared between images?)"
        )


def _superblock_supported(buffer, base):
    """Superblock version 0 or 1 at `base`, 8-byte offsets and lengths, base
    address equal to its position (as MATLAB writes it)."""
    if buffer[base : base + 8] != _SIGNATURE or buffer[base + 8] not in (0, 1):
        return False
    if buffer[base + 13] != 8 or buffer[base + 14] != 8:
        return False
    at = base + (24 if buffer[base + 8] == 0 else 28)
    return int.from_bytes(buffer[at : at + 8], "little") == base


def _run_slices(task, n, walk, buffer):
    """task(start, stop) over [0, n) in slices of _SLICE images; after each, a
    mapped buffer's pages are handed back (they are read again as needed)."""
    for start in range(0, n, _SLICE):
        _run_parallel(task, start, min(n, start + _SLICE), walk)
        if isinstance(buffer, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            buffer.madvise(mmap.MADV_DONTNEED)


def _run_parallel(task, start, stop, walk):
    """task(a, b) over [start, stop): two threads for the compiled walk (it
    releases the GIL) on many images, else one call."""
    workers = min(2, os.cpu_count() or 1)
    if walk is _PureWalk or workers < 2 or stop - start < _PARALLEL_MIN_IMAGES:
        task(start, stop)
        return
    bounds = np.linspace(start, stop, workers + 1).astype(int).tolist()
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(task, bounds[i], bounds[i + 1]) for i in range(workers)]:
            future.result()


def _assemble(n, walked, safe, fallback, method):
    """Joins the walked images and the h5py-read ones, in image order."""
    if walked is None:
        status = np.full(n, -1)
        box_offsets = np.zeros(n + 1, np.int64)
        name_offsets = np.zeros(n + 1, np.int64)
        chars = np.zeros(0, np.uint16)
        values = np.zeros((5, 0))
    else:
        status, box_offsets, name_offsets, chars, values = walked
    names = _decode_names(chars, name_offsets, status == _OK)
    if not len(fallback):
        return DigitStruct(names, *values, box_offsets, method=method)
    counts = np.diff(box_offsets)
    counts[status != _OK] = 0  # pass 2 may have declined an image after pass 1 counted it
    pieces = [[] for _ in FIELDS]
    previous = 0
    for index in fallback.tolist():
        for f in range(5):
            pieces[f].append(values[f, box_offsets[previous] : box_offsets[index]])
        name, columns = safe[index]
        names[index] = name
        counts[index] = len(columns[0])
        for f in range(5):
            pieces[f].append(np.asarray(columns[f], np.float64))
        previous = index + 1
    for f in range(5):
        pieces[f].append(values[f, box_offsets[previous] : box_offsets[n]])
    columns = [np.concatenate(p) for p in pieces]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return DigitStruct(names, *columns, offsets, method=method, fallback=fallback)


def _decode_units(units):
    """MATLAB chars (UTF-16 code units) to str."""
    return np.asarray(units, "<u2").tobytes().decode("utf-16-le", "surrogatepass")


def _decode_names(chars, offsets, ok):
    """Names of the walked images (None for the others) from their UTF-16 units."""
    bounds = offsets.tolist()
    pairs = zip(bounds[:-1], bounds[1:], ok.tolist())
    if not np.any((chars >= 0xD800) & (chars <= 0xDFFF)):
        text = _decode_units(chars)  # one unit per character: slice by unit offsets
        return [text[start:stop] if good else None for start, stop, good in pairs]
    return [_decode_units(chars[start:stop]) if good else None for start, stop, good in pairs]


# ---- the safe path: h5py, one dereference per object ------------------------


def _read_image_h5py(handle, path, index, name_ref, bbox_ref, h5py, size):
    """(name, [label, left, top, width, height] lists) of one image via h5py;
    no value array larger than the file (`size` bytes) is read."""
    where = f"{path}: image {index}"
    name_obj = _dereference(handle, name_ref, f"{where}: name", h5py)
    name = _char_array(name_obj, f"{where}: name", h5py, size)
    where = f"{where} ({name!r})"
    group = _dereference(handle, bbox_ref, f"{where}: bbox", h5py)
    if not isinstance(group, h5py.Group):
        raise DigitStructError(f"{where}: bbox is not a struct group")
    columns = []
    for field in FIELDS:
        dataset = group.get(field)
        if not isinstance(dataset, h5py.Dataset):
            raise DigitStructError(f"{where}: bbox has no {field} dataset")
        columns.append(_field_values(handle, dataset, f"{where}: {field}", h5py, size))
    if len({len(c) for c in columns}) != 1:
        counts = ", ".join(f"{f} {len(c)}" for f, c in zip(FIELDS, columns))
        raise DigitStructError(f"{where}: the bbox fields hold different numbers of boxes ({counts})")
    return name, columns


def _dereference(handle, ref, what, h5py):
    if not isinstance(ref, h5py.Reference) or not ref:
        raise DigitStructError(f"{what}: null object reference")
    try:
        return handle[ref]
    except Exception as error:
        raise DigitStructError(f"{what}: dangling object reference ({error})") from error


def _vector(dataset, what, size):
    shape = dataset.shape
    if shape is None or len(shape) > 2 or sum(d != 1 for d in shape) > 1:
        raise DigitStructError(f"{what}: shape {shape} is not a vector")
    if dataset.size * dataset.dtype.itemsize > size:
        raise DigitStructError(
            f"{what}: shape {shape} declares more values than a file of {size} bytes holds"
        )
    return dataset[()].reshape(-1)


def _char_array(dataset, what, h5py, size):
    if not isinstance(dataset, h5py.Dataset):
        raise DigitStructError(f"{what}: not a char array")
    if _matlab_empty(dataset):
        return ""
    if dataset.dtype.kind not in "ui":
        raise DigitStructError(f"{what}: not a char array (dtype {dataset.dtype})")
    units = _vector(dataset, what, size)
    if units.size and (units.min() < 0 or units.max() > 0xFFFF):
        raise DigitStructError(f"{what}: character codes outside 0..65535")
    return _decode_units(units)


def _field_values(handle, dataset, what, h5py, size):
    if _matlab_empty(dataset):
        return []
    if h5py.check_dtype(ref=dataset.dtype) is h5py.Reference:
        values = []
        for ref in _vector(dataset, what, size):
            value = _dereference(handle, ref, what, h5py)
            if not isinstance(value, h5py.Dataset) or value.dtype.kind not in "uif":
                raise DigitStructError(f"{what}: a reference to something other than a number")
            if value.size != 1:
                raise DigitStructError(f"{what}: a referenced value has shape {value.shape}, expected (1, 1)")
            values.append(float(value[()].reshape(-1)[0]))
        return values
    if dataset.dtype.kind not in "uif":
        raise DigitStructError(f"{what}: dtype {dataset.dtype} is not numeric")
    return _vector(dataset, what, size).astype(np.float64).tolist()


def _check_values(boxes, path):
    """Raises DigitStructError for values no SVHN file holds."""
    problems = [
        ("not finite", lambda v: ~np.isfinite(v), FIELDS),
        ("negative", lambda v: v < 0, ("width", "height")),
        ("not a label 1..10", lambda v: (v < 1) | (v > 10) | (v != np.floor(v)), ("label",)),
    ]
    for text, test, fields in problems:
        for field in fields:
            column = getattr(boxes, field)
            bad = np.flatnonzero(test(column))
            if len(bad):
                box = int(bad[0])
                image = int(np.searchsorted(boxes.offsets, box, side="right") - 1)
                where = f"{path}: image {image} ({boxes.names[image]!r})"
                raise DigitStructError(
                    f"{where}: {field} {float(column[box])!r} is {text}"
                    + (f" ({len(bad)} such values in the file)" if len(bad) > 1 else "")
                )


# ---- the pure-Python layout walk: the twin of _digitstruct.pyx ---------------
# Same checks, same status codes, same outputs: tests run both and compare.


class _Obj:
    __slots__ = (
        "has_space",
        "has_type",
        "has_layout",
        "has_stab",
        "empty",
        "dtype",
        "vector",
        "n",
        "data",
        "nbytes",
        "btree",
        "heap",
    )

    def __init__(self):
        self.has_space = self.has_type = self.has_layout = self.has_stab = self.empty = 0
        self.dtype = self.vector = self.n = self.data = self.nbytes = self.btree = self.heap = 0


_F64, _U16, _REF = 1, 2, 3
_F64_TYPE = bytes.fromhex("11203f000800000000004000340b0034ff030000")
_U16_TYPE = bytes.fromhex("100000000200000000001000")
_REF_TYPE = bytes.fromhex("1700000008000000")
_FIELD_NAMES = tuple(f.encode() + b"\0" for f in FIELDS)
_IGNORED_MESSAGES = frozenset((0x0000, 0x000D, 0x000E, 0x0012, 0x0016))
_UNDEFINED = 0xFFFFFFFFFFFFFFFF
_MAX_CHUNKS, _MAX_CHILDREN, _MAX_SYMBOLS, _MAX_FREE_BLOCKS = 16, 32, 8, 64


def _pad8(n):
    return (n + 7) & ~7


def _u(buf, at, width):
    return int.from_bytes(buf[at : at + width], "little")


def _span(size, base, address, length):
    """base + address when [base + address, + length) lies in the buffer, else None."""
    if address > size or length > size or base + address + length > size:
        return None
    return base + address


def _parse_header(buf, size, base, address, o):
    """Reads the version-1 object header at address into o; returns a status code."""
    pos = _span(size, base, address, 16)
    if pos is None or buf[pos] != 1:
        return _BAD_HEADER
    messages = _u(buf, pos + 2, 2)
    header_size = _u(buf, pos + 8, 4)
    start = _span(size, base, address + 16, header_size)
    if start is None:
        return _BAD_HEADER
    chunks = [(start, start + header_size)]
    seen = 0
    current = 0
    while current < len(chunks):
        p, end = chunks[current]
        current += 1
        while p < end:
            if end - p < 8:
                return _BAD_MESSAGE
            mtype = _u(buf, p, 2)
            msize = _u(buf, p + 2, 2)
            flags = buf[p + 4]
            body = p + 8
            if msize > end - body or msize % 8:
                return _BAD_MESSAGE
            seen += 1
            if seen > messages:
                return _BAD_MESSAGE
            if flags & ~0x01:
                return _UNSUPPORTED_MESSAGE
            read_message = _MESSAGE_READERS.get(mtype, _unsupported_message)
            status = read_message(buf, size, base, body, msize, o, chunks)
            if status != _OK:
                return status
            p = body + msize
    if seen != messages:
        return _BAD_MESSAGE
    return _OK


# One reader per message type: each checks the message at body (msize bytes) and
# records what it holds in o, or (continuation) appends its chunk to chunks.


def _read_dataspace(buf, size, base, body, msize, o, chunks):
    if o.has_space:
        return _BAD_MESSAGE
    o.has_space = 1
    if msize < 8:
        return _BAD_MESSAGE
    rank, space_flags = buf[body + 1], buf[body + 2]
    if buf[body] == 1:
        need = 8 + 8 * rank * (1 + (space_flags & 1) + ((space_flags >> 1) & 1))
        dims = body + 8
    elif buf[body] == 2:
        if buf[body + 3] == 2:
            return _UNSUPPORTED_LAYOUT  # null dataspace
        if buf[body + 3] > 2:
            return _BAD_MESSAGE
        need = 4 + 8 * rank * (1 + (space_flags & 1))
        dims = body + 4
    else:
        return _BAD_MESSAGE
    if need > msize:
        return _BAD_MESSAGE
    if rank > 2:
        return _BAD_SHAPE
    n, nonunit = 1, 0
    for r in range(rank):
        dim = _u(buf, dims + 8 * r, 8)
        if space_flags & 1 and dim > _u(buf, dims + 8 * (rank + r), 8):
            return _BAD_MESSAGE
        if dim > 0x7FFFFFFF:
            return _BAD_SHAPE
        n *= dim
        nonunit += dim != 1
    if n > size:
        return _BAD_SHAPE
    o.n = n
    o.vector = int(nonunit <= 1)
    return _OK


def _read_datatype(buf, size, base, body, msize, o, chunks):
    if o.has_type:
        return _BAD_MESSAGE
    o.has_type = 1
    if msize >= 20 and buf[body : body + 20] == _F64_TYPE:
        o.dtype = _F64
    elif msize >= 12 and buf[body : body + 12] == _U16_TYPE:
        o.dtype = _U16
    elif msize >= 8 and buf[body : body + 8] == _REF_TYPE:
        o.dtype = _REF
    return _OK


def _read_layout(buf, size, base, body, msize, o, chunks):
    if o.has_layout:
        return _BAD_MESSAGE
    o.has_layout = 1
    if msize < 4 or buf[body] not in (3, 4):
        return _UNSUPPORTED_LAYOUT
    if buf[body + 1] == 0:  # compact: the data is in the message
        o.nbytes = _u(buf, body + 2, 2)
        if 4 + o.nbytes > msize:
            return _BAD_MESSAGE
        o.data = body + 4
    elif buf[body + 1] == 1:  # contiguous
        if msize < 18:
            return _BAD_MESSAGE
        address, length = _u(buf, body + 2, 8), _u(buf, body + 10, 8)
        if address == _UNDEFINED:
            return _UNSUPPORTED_LAYOUT  # never written: reads as the fill value
        o.data = _span(size, base, address, length)
        if o.data is None:
            return _BAD_MESSAGE
        o.nbytes = length
    else:
        return _UNSUPPORTED_LAYOUT  # chunked or virtual
    return _OK


def _check_fill_value(buf, size, base, body, msize, o, chunks):
    version = buf[body] if msize >= 4 else 0
    if version < 1 or version > 3:
        return _BAD_MESSAGE
    if version < 3 and (version == 1 or buf[body + 3]):
        if msize < 8 or 8 + _u(buf, body + 4, 4) > msize:
            return _BAD_MESSAGE
    elif version == 3 and buf[body + 1] & 0x20:
        if msize < 8 or 6 + _u(buf, body + 2, 4) > msize:
            return _BAD_MESSAGE
    return _OK


def _check_old_fill_value(buf, size, base, body, msize, o, chunks):
    if msize < 4 or 4 + _u(buf, body, 4) > msize:
        return _BAD_MESSAGE
    return _OK


def _read_attribute(buf, size, base, body, msize, o, chunks):
    """Checks an attribute's sizes and name; only MATLAB_empty matters here."""
    if msize < 8:
        return _BAD_MESSAGE
    version = buf[body]
    name_length = _u(buf, body + 2, 2)
    datatype_size, space_size = _u(buf, body + 4, 2), _u(buf, body + 6, 2)
    if version == 1:
        need = 8 + _pad8(name_length) + _pad8(datatype_size) + _pad8(space_size)
        name_at = body + 8
    elif version in (2, 3):
        need = 8 + (version == 3) + name_length + datatype_size + space_size
        name_at = body + 8 + (version == 3)
    else:
        return _BAD_MESSAGE
    if (
        need > msize
        or name_length == 0
        or buf[name_at : name_at + name_length].find(b"\0") != name_length - 1
    ):
        return _BAD_MESSAGE
    if name_length == 13 and buf[name_at : name_at + 13] == b"MATLAB_empty\0":
        o.empty = 1
    return _OK


def _follow_continuation(buf, size, base, body, msize, o, chunks):
    if msize < 16 or len(chunks) == _MAX_CHUNKS:
        return _BAD_MESSAGE
    length = _u(buf, body + 8, 8)
    at = _span(size, base, _u(buf, body, 8), length)
    if at is None:
        return _BAD_MESSAGE
    chunks.append((at, at + length))
    return _OK


def _read_symbol_table(buf, size, base, body, msize, o, chunks):
    if o.has_stab or msize < 16:
        return _BAD_MESSAGE
    o.has_stab = 1
    o.btree, o.heap = _u(buf, body, 8), _u(buf, body + 8, 8)
    return _OK


def _ignore_message(buf, size, base, body, msize, o, chunks):
    return _OK


def _unsupported_message(buf, size, base, body, msize, o, chunks):
    return _UNSUPPORTED_MESSAGE


_MESSAGE_READERS = {
    0x0001: _read_dataspace,
    0x0003: _read_datatype,
    0x0008: _read_layout,
    0x0005: _check_fill_value,
    0x0004: _check_old_fill_value,
    0x000C: _read_attribute,
    0x0010: _follow_continuation,
    0x0011: _read_symbol_table,
    **dict.fromkeys(_IGNORED_MESSAGES, _ignore_message),
}


def _check_dataset(o, dtype_a, dtype_b):
    if o.has_stab or not (o.has_space and o.has_type and o.has_layout):
        return _NOT_DATASET
    if o.empty:
        return _MATLAB_EMPTY
    if o.dtype == 0 or o.dtype not in (dtype_a, dtype_b):
        return _UNSUPPORTED_TYPE
    if not o.vector:
        return _BAD_SHAPE
    if o.nbytes != o.n * (2 if o.dtype == _U16 else 8):
        return _BAD_SHAPE
    return _OK


def _heap_name(buf, data, data_size, offset):
    """The NUL-terminated name at offset in a local heap (without the NUL), or None."""
    if offset >= data_size:
        return None
    text = buf[data + offset : data + data_size]
    end = text.find(b"\0")
    return None if end < 0 else text[:end]


def _find_fields(buf, size, base, group, out):
    out[:] = [0] * 5
    if not group.has_stab or group.has_space or group.has_type or group.has_layout:
        return _BAD_GROUP
    heap = _span(size, base, group.heap, 32)
    if heap is None or buf[heap : heap + 4] != b"HEAP" or buf[heap + 4] != 0:
        return _BAD_GROUP
    data_size = _u(buf, heap + 8, 8)
    data = _span(size, base, _u(buf, heap + 24, 8), data_size)
    if data is None:
        return _BAD_GROUP
    offset = _u(buf, heap + 16, 8)
    for i in range(_MAX_FREE_BLOCKS + 1):
        if offset == 1:
            break
        if i == _MAX_FREE_BLOCKS or offset >= data_size or data_size - offset < 16:
            return _BAD_GROUP
        if _u(buf, data + offset, 8) == 0 or _u(buf, data + offset + 8, 8) > data_size - offset:
            return _BAD_GROUP
        offset = _u(buf, data + offset, 8)
    node = _span(size, base, group.btree, 24)
    if node is None or buf[node : node + 4] != b"TREE" or buf[node + 4] != 0 or buf[node + 5] != 0:
        return _BAD_GROUP
    used = _u(buf, node + 6, 2)
    if used < 1 or used > _MAX_CHILDREN or node + 24 + 16 * used + 8 > size:
        return _BAD_GROUP
    previous = _heap_name(buf, data, data_size, _u(buf, node + 24, 8))
    if previous is None:
        return _BAD_GROUP
    for i in range(used):
        key = _heap_name(buf, data, data_size, _u(buf, node + 24 + 16 * i + 16, 8))
        if key is None:
            return _BAD_GROUP
        snod = _span(size, base, _u(buf, node + 24 + 16 * i + 8, 8), 8)
        if snod is None or buf[snod : snod + 4] != b"SNOD" or buf[snod + 4] != 1:
            return _BAD_GROUP
        count = _u(buf, snod + 6, 2)
        if count < 1 or count > _MAX_SYMBOLS or snod + 8 + 40 * count > size:
            return _BAD_GROUP
        for j in range(count):
            entry = snod + 8 + 40 * j
            if _u(buf, entry + 16, 4) > 2:
                return _BAD_GROUP
            name = _heap_name(buf, data, data_size, _u(buf, entry, 8))
            if name is None or not previous < name <= key:
                return _BAD_GROUP
            previous = name
            if name + b"\0" in _FIELD_NAMES:
                f = _FIELD_NAMES.index(name + b"\0")
                if out[f] != 0:
                    return _BAD_GROUP
                out[f] = _u(buf, entry + 8, 8)
                if out[f] == 0:
                    return _BAD_GROUP
        previous = key
    return _OK if all(out) else _BAD_GROUP


def _structure_one(buf, size, base, name_address, bbox_address, row):
    o = _Obj()
    status = _parse_header(buf, size, base, name_address, o)
    if status == _OK:
        status = _check_dataset(o, _U16, _U16)
    if status != _OK:
        return status
    row[1], row[2] = o.data, o.n
    o = _Obj()
    status = _parse_header(buf, size, base, bbox_address, o)
    fields = [0] * 5
    if status == _OK:
        status = _find_fields(buf, size, base, o, fields)
    if status != _OK:
        return status
    for f in range(5):
        o = _Obj()
        status = _parse_header(buf, size, base, fields[f], o)
        if status == _OK:
            status = _check_dataset(o, _F64, _REF)
        if status != _OK:
            return status
        if f == 0:
            row[3] = o.n
        elif o.n != row[3]:
            return _FIELD_COUNTS
        row[4 + f] = 1 if o.dtype == _F64 else 2
        row[9 + f] = o.data
    return _OK


def _values_one(buf, size, base, row, box, name_start, chars, values):
    name_at, name_length, count = int(row[1]), int(row[2]), int(row[3])
    chars[name_start : name_start + name_length] = np.frombuffer(
        buf[name_at : name_at + 2 * name_length], "<u2"
    )
    for f in range(5):
        at = int(row[9 + f])
        if row[4 + f] == 1:
            values[f, box : box + count] = np.frombuffer(buf[at : at + 8 * count], "<f8")
            continue
        for j in range(count):
            o = _Obj()
            status = _parse_header(buf, size, base, _u(buf, at + 8 * j, 8), o)
            if status == _OK:
                status = _check_dataset(o, _F64, _F64)
            if status == _OK and o.n != 1:
                status = _BAD_SHAPE
            if status != _OK:
                return status
            values[f, box + j] = np.frombuffer(buf[o.data : o.data + 8], "<f8")[0]
    return _OK


class _PureWalk:
    """The layout walk in Python: the same two passes as _digitstruct.pyx."""

    @staticmethod
    def parse_structure(buf, base, name_address, bbox_address, info, start, stop):
        size = len(buf)
        names, bboxes = name_address.tolist(), bbox_address.tolist()
        for i in range(start, stop):
            row = [0] * 14
            row[0] = _structure_one(buf, size, base, names[i], bboxes[i], row)
            info[i] = row

    @staticmethod
    def parse_values(buf, base, info, box_offsets, name_offsets, chars, values, start, stop):
        size = len(buf)
        for i in range(start, stop):
            if info[i, 0] == _OK:
                info[i, 0] = _values_one(
                    buf, size, base, info[i], box_offsets[i], name_offsets[i], chars, values
                )
