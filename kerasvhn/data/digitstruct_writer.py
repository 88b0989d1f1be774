"""Writes SVHN format-1 `digitStruct.mat` files laid out as MATLAB writes them.

`write_digitstruct(path, records)` produces a MATLAB v7.3 MAT-file (HDF5 with a
512-byte MATLAB userblock) holding the same objects as the official files:
`/digitStruct` (a struct group) with `name` and `bbox`, (N, 1) arrays of object
references into `/#refs#`; each name is a (k, 1) uint16 char array; each bbox is a
struct group whose fields `height/left/top/width/label` are (1, 1) float64 datasets
for a one-digit image, or (k, 1) arrays of references to (1, 1) float64 datasets.
Every object carries MATLAB's attributes (`MATLAB_class`, `H5PATH`,
`MATLAB_fields`, `MATLAB_int_decode`, the `#refs#/a` canonical empty) and MATLAB's
object-header messages (version-1 headers, compact storage, fill values that refer
to `#refs#/a`), and the `#refs#` names follow MATLAB's sequence (a, b, ..., 0, ab,
bb, ...), so a file written from the official records has the very object tree of
the official file.

The bytes are composed with NumPy instead of going through libhdf5, one template
per kind of object patched column-wise, because libhdf5 takes minutes for the
millions of tiny objects of the 202,353-image extra split; this takes seconds.
"""

import os
import struct
import time

import numpy as np

FIELDS = ("label", "left", "top", "width", "height")
# MATLAB's field order in MATLAB_fields and in the #refs# naming sequence.
MATLAB_FIELDS = ("height", "left", "top", "width", "label")
USERBLOCK = 512
UNDEFINED = 0xFFFFFFFFFFFFFFFF

_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890", np.uint8)
_REFS = b"/#refs#/"
_LEAF_K = 4  # superblock: group leaf node K (symbol nodes hold 2K entries)
_NODE_K = 16  # superblock: group internal node K (B-tree nodes hold 2K children)
_SNOD_SIZE = 8 + 2 * _LEAF_K * 40
_TREE_SIZE = 24 + (2 * _NODE_K + 1) * 8 + 2 * _NODE_K * 8
_GCOL_SIZE = 4096
_CHUNK_ROWS = 8192  # rows of one template patched at a time (bounds memory)

# Datatype message bodies, byte for byte as MATLAB (libhdf5) writes them.
_F64 = bytes.fromhex("11203f000800000000004000340b0034ff030000")
_U16 = bytes.fromhex("100000000200000000001000")
_U64 = bytes.fromhex("100000000800000000004000")
_U8 = bytes.fromhex("100000000100000000000800")
_I32 = bytes.fromhex("100800000400000000002000")
_REF = bytes.fromhex("1700000008000000")
_VLEN_S1 = bytes.fromhex("19000000100000001300000001000000")
_SCALAR = bytes.fromhex("0100000000000000")  # version-1 dataspace of rank 0


def _pad8(data):
    return data + b"\0" * (-len(data) % 8)


def _string_type(length):
    return struct.pack("<BBBBI", 0x13, 0, 0, 0, length)


def _simple_space(*dims):
    """Version-1 simple dataspace with maximum dimensions equal to dims."""
    body = struct.pack("<BBBB4x", 1, len(dims), 1, 0)
    return body + struct.pack(f"<{2 * len(dims)}Q", *dims, *dims)


class _Header:
    """A version-1 object header under construction; marks patchable offsets."""

    def __init__(self):
        self.messages = []
        self.marks = {}
        self.size = 0  # bytes of messages so far

    def add(self, mtype, body, flags=0, **marks):
        body = _pad8(body)
        for name, offset in marks.items():
            self.marks[name] = self.size + 8 + offset
        self.messages.append(struct.pack("<HHB3x", mtype, len(body), flags) + body)
        self.size += 8 + len(body)
        return self

    def attribute(self, name, dtype, space, data, **marks):
        name = _pad8(name.encode() + b"\0")
        head = struct.pack("<BxHHH", 1, len(name.rstrip(b"\0")) + 1, len(dtype), len(space))
        prefix = head + name + _pad8(dtype) + _pad8(space)
        return self.add(0x000C, prefix + data, **{k: len(prefix) + v for k, v in marks.items()})

    def string_attribute(self, name, text, length_mark=None, text_mark=None, reserve=0):
        """A fixed-length string attribute; reserve pads the data for later patches."""
        text = text.encode()
        data = text + b"\0" * max(0, reserve - len(text))
        dtype = _string_type(len(text))
        marks = {}
        if length_mark:
            prefix = 8 + len(_pad8(name.encode() + b"\0"))
            self.marks[length_mark] = self.size + 8 + prefix + 4
        if text_mark:
            marks[text_mark] = 0
        return self.attribute(name, dtype, _SCALAR, data, **marks)

    def encode(self, minimum=0):
        """The header bytes (16-byte prefix + messages), padded by a NIL message
        to at least `minimum` bytes of messages; marks become object offsets."""
        messages = list(self.messages)
        size = self.size
        if size < minimum:
            messages.append(struct.pack("<HHB3x", 0, minimum - size - 8, 0) + b"\0" * (minimum - size - 8))
            size = minimum
        prefix = struct.pack("<BBHII4x", 1, 0, len(messages), 1, size)
        self.marks = {k: v + 16 for k, v in self.marks.items()}
        return np.frombuffer(prefix + b"".join(messages), np.uint8).copy()


def _mtime_body(mtime):
    return struct.pack("<B3xI", 1, mtime)


def _refs_names(indices):
    """MATLAB's #refs# names for creation indices: base 62, least significant
    digit first (0 -> 'a', 61 -> '0', 62 -> 'ab'). Returns (n, 4) bytes, lengths."""
    indices = np.asarray(indices, np.int64)
    if indices.size and indices.max() >= 62**4:
        raise ValueError("too many objects for 4-character #refs# names")
    names = np.zeros((indices.size, 4), np.uint8)
    lengths = np.ones(indices.size, np.int64)
    rest = indices.copy()
    for position in range(4):
        names[:, position] = np.where((rest > 0) | (position == 0), _ALPHABET[rest % 62], 0)
        lengths += (rest >= 62) & (position < 3)
        rest //= 62
    return names, lengths


def _put(block, offset, values, dtype):
    """Writes one little-endian value per row of block at byte offset."""
    values = np.ascontiguousarray(np.broadcast_to(np.asarray(values).astype(dtype), (block.shape[0],)))
    block[:, offset : offset + values.itemsize] = values.view(np.uint8).reshape(block.shape[0], -1)


def _put_path(block, offset_length, offset_text, names, lengths, repeat=1):
    """Patches an H5PATH attribute: '/#refs#/' + name (repeated, as MATLAB does
    for the fields of one-digit bbox structs)."""
    _put(block, offset_length, len(_REFS) + repeat * lengths, "<u4")
    for length in np.unique(lengths):
        rows = lengths == length
        for copy in range(repeat):
            start = offset_text + len(_REFS) + copy * length
            block[rows, start : start + length] = names[rows, :length]


class _Layout:
    """Assigns relative addresses (from the superblock) to blocks in file order."""

    def __init__(self):
        self.end = 0

    def take(self, size):
        address = self.end
        self.end += int(size)
        return address


def _columns(records):
    """names (list of str), counts (N,), values {field: float64 (total,)}."""
    if all(hasattr(records, name) for name in ("names", "offsets") + FIELDS):
        offsets = np.asarray(records.offsets, np.int64)
        values = {f: np.asarray(getattr(records, f), np.float64) for f in FIELDS}
        return list(records.names), np.diff(offsets), values
    names, counts, lists = [], [], {f: [] for f in FIELDS}
    for index, record in enumerate(records):
        name = record["name"]
        if not isinstance(name, str):
            raise TypeError(f"record {index}: name must be a str, got {name!r}")
        fields = [np.atleast_1d(np.asarray(record[f], np.float64)) for f in FIELDS]
        count = len(fields[0])
        if any(v.ndim != 1 or len(v) != count for v in fields):
            raise ValueError(f"record {index} ({name!r}): label/left/top/width/height differ in length")
        names.append(name)
        counts.append(count)
        for f, v in zip(FIELDS, fields):
            lists[f].append(v)
    values = {f: np.concatenate(v) if v else np.zeros(0) for f, v in lists.items()}
    return names, np.asarray(counts, np.int64), values


def write_digitstruct(path, records, created=None):
    """Writes records as a MATLAB-layout v7.3 `digitStruct.mat`.

    records: dicts {"name": str, "label": [...], "left": [...], "top": [...],
    "width": [...], "height": [...]} (one list entry per digit box, label 10 for
    the digit 0), or a `DigitStruct`. Every image needs at least one box and a
    non-empty name. Values are written as given (NaN and negative boxes too, so
    that tests can build bad files). `created` (seconds since the epoch) sets the
    header date and the objects' modification times. Returns path.

    >>> import os, tempfile, h5py
    >>> path = os.path.join(tempfile.mkdtemp(), "digitStruct.mat")
    >>> _ = write_digitstruct(path, [{"name": "1.png", "label": [1.0, 10.0],
    ...     "left": [5.0, 20.0], "top": [2.0, 3.0], "width": [9.0, 9.0], "height": [20.0, 21.0]}])
    >>> with h5py.File(path, "r") as f:
    ...     box = f[f["digitStruct/bbox"][0, 0]]
    ...     [f[ref][0, 0] for ref in box["label"][:, 0]], dict(box.attrs)["MATLAB_class"]
    ([np.float64(1.0), np.float64(10.0)], np.bytes_(b'struct'))
    """
    names, counts, values = _columns(records)
    n = len(names)
    if n and counts.min() < 1:
        first = int(np.argmin(counts))
        raise ValueError(f"record {first} ({names[first]!r}) has no digit boxes")
    units = []
    for index, name in enumerate(names):
        if not name:
            raise ValueError(f"record {index} has an empty name")
        units.append(np.frombuffer(name.encode("utf-16-le", "surrogatepass"), "<u2"))
    created = int(time.time() if created is None else created)
    writer = _Writer(names, units, counts, values, created)
    temporary = f"{os.fspath(path)}.tmp{os.getpid()}"
    try:
        with open(temporary, "wb") as handle:
            writer.write(handle)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


class _Writer:
    def __init__(self, names, units, counts, values, created):
        self.n = len(names)
        self.units = units
        self.counts = counts
        self.values = values
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.created = created
        self.mtime = created & 0xFFFFFFFF
        self._plan()

    # ---- planning: indices, names and addresses of every object -------------

    def _plan(self):
        self._plan_refs_order()
        layout = _Layout()
        self._plan_fixed_objects(layout)
        self._plan_names(layout)
        self._plan_heap_collections(layout)
        self._plan_blocks(layout)
        self._plan_top_arrays(layout)
        # The #refs# symbol table: heap, symbol nodes, B-tree.
        self.refs_heap = layout.take(32)
        self.refs_heap_data = layout.take(8 + 8 * self.refs_count)
        self._plan_refs_index(layout)
        self.eof = layout.end

    def _plan_refs_order(self):
        n, counts = self.n, self.counts
        multi = counts >= 2
        # #refs# creation order: 'a', the names, then per image its bbox group
        # followed (several digits) by its values, field by field.
        per_image = 1 + np.where(multi, 5 * counts, 0)
        self.group_index = n + 1 + np.concatenate([[0], np.cumsum(per_image)])[:n].astype(np.int64)
        self.refs_count = int(n + 1 + per_image.sum())

    def _plan_fixed_objects(self, layout):
        """The superblock, the root group, /digitStruct, the #refs# header and #refs#/a."""
        self.superblock = layout.take(96)
        self.root = self._small_group(layout)
        self.struct_header = layout.take(40)
        self.struct_cont = layout.take(184)
        self.struct_tree = layout.take(_TREE_SIZE)
        self.struct_heap = layout.take(32)
        self.struct_heap_data = layout.take(88)
        self.struct_snod = layout.take(_SNOD_SIZE)
        self.refs_header = layout.take(40)
        self.empty_address = layout.take(16 + 272)

    def _plan_names(self, layout):
        """Name char arrays, grouped by length (one template per length)."""
        lengths = np.array([len(u) for u in self.units], np.int64)
        self.name_lengths = lengths
        self.name_address = np.zeros(self.n, np.int64)
        self.name_groups = []
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            template, marks = self._name_template(int(length))
            start = layout.take(len(template) * len(rows))
            self.name_address[rows] = start + len(template) * np.arange(len(rows))
            self.name_groups.append((rows, template, marks))

    def _plan_heap_collections(self, layout):
        """Global heap collections for the MATLAB_fields attributes: the first holds
        /digitStruct's, then 33 bbox groups per collection."""
        per_collection = (_GCOL_SIZE - 16 - 16) // (5 * 24)
        self.gcol_count = 1 + -(-self.n // per_collection)
        self.gcol_address = layout.take(_GCOL_SIZE * self.gcol_count) + _GCOL_SIZE * np.arange(
            self.gcol_count
        )
        self.per_collection = per_collection

    def _plan_blocks(self, layout):
        """bbox groups with their children, grouped by box count."""
        n, counts = self.n, self.counts
        self.block_address = np.zeros(n, np.int64)
        self.block_groups = []
        order = []
        for count in np.unique(counts):
            rows = np.flatnonzero(counts == count)
            template, marks = self._block_template(int(count))
            start = layout.take(len(template) * len(rows))
            self.block_address[rows] = start + len(template) * np.arange(len(rows))
            self.block_groups.append((rows, template, marks, int(count)))
            order.append(rows)
        # Heap objects follow the order the blocks are written in.
        written = np.concatenate(order) if order else np.zeros(0, np.int64)
        self.gcol_slot = np.zeros(n, np.int64)
        self.gcol_slot[written] = np.arange(n)

    def _plan_top_arrays(self, layout):
        """/digitStruct/name and /digitStruct/bbox."""
        n = self.n
        self.top_compact = 8 * n <= 16384
        self.top_template = self._top_template()
        self.name_top = layout.take(len(self.top_template[0]))
        if not self.top_compact and n:
            self.name_top_data = layout.take(8 * n)
        self.bbox_top = layout.take(len(self.top_template[0]))
        if not self.top_compact and n:
            self.bbox_top_data = layout.take(8 * n)

    def _small_group(self, layout):
        return {
            "header": layout.take(40),
            "tree": layout.take(_TREE_SIZE),
            "heap": layout.take(32),
            "heap_data": layout.take(88),
            "snod": layout.take(_SNOD_SIZE),
        }

    def _refs_entries(self):
        """Every #refs# child: creation index, header address, and for groups the
        B-tree and heap addresses (symbol table scratch pad)."""
        n = self.n
        index = [np.array([0]), np.arange(1, n + 1), self.group_index]
        address = [np.array([self.empty_address]), self.name_address, self.block_address]
        tree = [np.zeros(1 + n, np.int64), self.block_address + 40]
        heap = [np.zeros(1 + n, np.int64), self.block_address + 584]
        for rows, template, marks, count in self.block_groups:
            if count < 2:
                continue
            index.append((self.group_index[rows, None] + 1 + np.arange(5 * count)).ravel())
            address.append(
                (self.block_address[rows, None] + marks["float"] + 280 * np.arange(5 * count)).ravel()
            )
        index = np.concatenate(index)
        address = np.concatenate(address)
        is_group = np.zeros(len(index), bool)
        is_group[1 + n : 1 + 2 * n] = True
        tree = np.concatenate(tree + [np.zeros(len(index) - 1 - 2 * n, np.int64)])
        heap = np.concatenate(heap + [np.zeros(len(index) - 1 - 2 * n, np.int64)])
        return index, address, is_group, tree, heap

    def _plan_refs_index(self, layout):
        index, address, is_group, tree, heap = self._refs_entries()
        names, lengths = _refs_names(index)
        # Symbol nodes list names in strcmp order: sort on big-endian bytes.
        key = names.astype(np.uint32)
        key = (key[:, 0] << 24) | (key[:, 1] << 16) | (key[:, 2] << 8) | key[:, 3]
        order = np.argsort(key, kind="stable")
        self.refs_sorted = (index[order], address[order], is_group[order], tree[order], heap[order])
        self.refs_heap_names = np.zeros((len(index), 4), np.uint8)
        self.refs_heap_names[index] = names
        snods = -(-len(index) // (2 * _LEAF_K))
        self.refs_snod = layout.take(_SNOD_SIZE * snods) + _SNOD_SIZE * np.arange(snods)
        # B-tree levels, bottom up: level 0 points at symbol nodes.
        last = np.minimum(np.arange(1, snods + 1) * 2 * _LEAF_K, len(index)) - 1
        child_address, child_key = self.refs_snod, 8 + 8 * self.refs_sorted[0][last]
        self.refs_tree_levels = []
        level = 0
        while True:
            nodes = -(-len(child_address) // (2 * _NODE_K))
            addresses = layout.take(_TREE_SIZE * nodes) + _TREE_SIZE * np.arange(nodes)
            self.refs_tree_levels.append((level, addresses, child_address, child_key))
            if nodes == 1:
                break
            last = np.minimum(np.arange(1, nodes + 1) * 2 * _NODE_K, len(child_address)) - 1
            child_address, child_key = addresses, child_key[last]
            level += 1
        self.refs_tree_root = addresses[0]

    # ---- templates ----------------------------------------------------------

    def _float_template(self):
        header = _Header()
        header.add(0x0001, _simple_space(1, 1))
        header.add(0x0003, _F64, flags=1)
        header.add(0x0005, bytes.fromhex("0201020100000000"), flags=1)
        header.add(0x0008, struct.pack("<BBH", 3, 0, 8) + b"\0" * 8, value=4)
        header.add(0x0012, _mtime_body(self.mtime))
        header.string_attribute("MATLAB_class", "double")
        header.string_attribute("H5PATH", "/#refs#/", length_mark="path_length", text_mark="path", reserve=16)
        return header.encode(minimum=264), header.marks

    def _name_template(self, length):
        header = _Header()
        header.add(0x0001, _simple_space(length, 1))
        header.add(0x0003, _U16, flags=1)
        header.add(0x0005, bytes.fromhex("0201020100000000"), flags=1)
        header.add(0x0008, struct.pack("<BBH", 3, 0, 2 * length) + b"\0" * (2 * length), chars=4)
        header.add(0x0012, _mtime_body(self.mtime))
        header.string_attribute("MATLAB_class", "char")
        header.attribute("MATLAB_int_decode", _I32, _SCALAR, struct.pack("<i", 2))
        header.string_attribute("H5PATH", "/#refs#/", length_mark="path_length", text_mark="path", reserve=16)
        return header.encode(), header.marks

    def _reference_array(self, count, compact_data=True, data_address=0):
        """Header of a (count, 1) reference array: compact data (patched later) or
        contiguous at data_address; fill value = reference to #refs#/a."""
        header = _Header()
        header.add(0x0001, _simple_space(count, 1))
        header.add(0x0003, _REF, flags=1)
        header.add(0x0005, bytes.fromhex("0201020108000000") + struct.pack("<Q", self.empty_address), flags=1)
        header.add(0x0004, struct.pack("<IQ", 8, self.empty_address), flags=1)
        if compact_data:
            header.add(0x0008, struct.pack("<BBH", 3, 0, 8 * count) + b"\0" * (8 * count), refs=4)
        else:
            header.add(0x0008, struct.pack("<BBQQ", 3, 1, data_address, 8 * count))
        header.add(0x0012, _mtime_body(self.mtime))
        return header.encode(minimum=272), header.marks

    def _group_parts(self, fields=MATLAB_FIELDS, h5path=True):
        """The pieces of a MATLAB struct group: a 24-byte first chunk holding a
        continuation to the stab + attribute messages (as libhdf5 leaves it after
        MATLAB adds the attributes)."""
        cont = _Header()
        cont.add(0x0011, b"\0" * 16, stab=0)
        cont.string_attribute("MATLAB_class", "struct")
        if h5path:
            cont.string_attribute(
                "H5PATH", "/#refs#/", length_mark="path_length", text_mark="path", reserve=16
            )
        heap_ids = struct.pack("<" + "IQI" * len(fields), *[x for f in fields for x in (len(f), 0, 0)])
        cont.attribute("MATLAB_fields", _VLEN_S1, _simple_space(len(fields)), heap_ids, fields=0)
        body = b"".join(cont.messages)
        marks = dict(cont.marks)
        first = struct.pack("<BBHII4x", 1, 0, 1 + len(cont.messages), 1, 24)
        first += struct.pack("<HHB3xQQ", 0x0010, 16, 0, 0, len(body))
        return np.frombuffer(first, np.uint8).copy(), np.frombuffer(body, np.uint8).copy(), marks

    def _block_template(self, count):
        """One bbox group with everything it owns, laid out contiguously:
        header, B-tree, local heap, symbol node, continuation, then the field
        datasets (one-digit: (1,1) floats; several: reference arrays + floats)."""
        first, cont, cont_marks = self._group_parts()
        tree = self._tree_node_template(entries=1)
        heap_data = np.frombuffer(
            b"\0" * 8
            + b"height\0\0left\0\0\0\0top\0\0\0\0\0width\0\0\0label\0\0\0"
            + struct.pack("<QQ", 1, 40)
            + b"\0" * 24,
            np.uint8,
        )
        marks = {"tree": 40, "heap": 584, "heap_data": 616, "snod": 704, "cont": 1032}
        marks.update({"cont." + k: 1032 + v for k, v in cont_marks.items()})
        flt, float_marks = self._float_template()
        pieces = [
            first,
            tree,
            self._heap_header(0, len(heap_data)),
            heap_data,
            np.zeros(_SNOD_SIZE, np.uint8),
            cont,
        ]
        if count == 1:
            marks["fields"] = 1320 + 280 * np.arange(5)
            marks["float"] = 1320
            pieces += [flt] * 5
        else:
            refs, ref_marks = self._reference_array(count)
            marks["fields"] = 1320 + len(refs) * np.arange(5)
            marks["refs"] = ref_marks["refs"]
            marks["float"] = 1320 + 5 * len(refs)
            pieces += [refs] * 5 + [flt] * (5 * count)
        marks.update({"float." + k: v for k, v in float_marks.items()})
        template = np.concatenate(pieces)
        # Constant parts of the symbol node: 5 entries in strcmp order.
        snod = template[704 : 704 + _SNOD_SIZE]
        snod[:8] = np.frombuffer(b"SNOD\x01\x00" + struct.pack("<H", 5), np.uint8)
        for slot, (field, offset) in enumerate(sorted(zip(MATLAB_FIELDS, (8, 16, 24, 32, 40)))):
            snod[8 + 40 * slot : 16 + 40 * slot] = np.frombuffer(struct.pack("<Q", offset), np.uint8)
        marks["snod_order"] = [MATLAB_FIELDS.index(f) for f in sorted(MATLAB_FIELDS)]
        _put(template[None, 40:], 24 + 16, 32, "<u8")  # B-tree key 1: 'width' at heap offset 32
        return template, marks

    def _tree_node_template(self, entries, level=0):
        node = np.zeros(_TREE_SIZE, np.uint8)
        node[:24] = np.frombuffer(
            b"TREE" + struct.pack("<BBHQQ", 0, level, entries, UNDEFINED, UNDEFINED), np.uint8
        )
        return node

    @staticmethod
    def _heap_header(data_address, data_size, free=48):
        return np.frombuffer(
            b"HEAP\0\0\0\0" + struct.pack("<QQQ", data_size, free, data_address), np.uint8
        ).copy()

    def _top_template(self):
        if self.n == 0:
            header = _Header()
            header.add(0x0001, _simple_space(2))
            header.add(0x0003, _U64, flags=1)
            header.add(0x0005, bytes.fromhex("0201020100000000"), flags=1)
            header.add(0x0008, struct.pack("<BBH", 3, 0, 16) + struct.pack("<QQ", 1, 0))
            header.add(0x0012, _mtime_body(self.mtime))
            header.attribute("MATLAB_empty", _U8, _SCALAR, b"\x01")
            return header.encode(minimum=272), header.marks
        if self.top_compact:
            return self._reference_array(self.n)
        return self._reference_array(self.n, compact_data=False)

    # ---- output ---------------------------------------------------------------

    def write(self, handle):
        handle.write(self._userblock())
        handle.write(self._superblock())
        handle.write(self._root_group())
        handle.write(self._struct_group())
        handle.write(self._group_header_only())
        handle.write(self._canonical_empty())
        self._write_names(handle)
        handle.write(self._global_heaps())
        self._write_blocks(handle)
        self._write_top(handle)
        self._write_refs_index(handle)
        assert handle.tell() == USERBLOCK + self.eof, (handle.tell(), self.eof)

    def _userblock(self):
        date = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(self.created))
        text = f"MATLAB 7.3 MAT-file, Platform: kerasvhn, Created on: {date} HDF5 schema 1.00 ."
        head = text.encode().ljust(116, b" ") + b"\0" * 8 + struct.pack("<H", 0x0200) + b"IM"
        return head.ljust(USERBLOCK, b"\0")

    def _superblock(self):
        root = self.root
        entry = struct.pack("<QQI4xQQ", 0, root["header"], 1, root["tree"], root["heap"])
        return (
            b"\x89HDF\r\n\x1a\n"
            + struct.pack("<BBBBBBBB", 0, 0, 0, 0, 0, 8, 8, 0)
            + struct.pack("<HHI", _LEAF_K, _NODE_K, 0)
            + struct.pack("<QQQQ", USERBLOCK, UNDEFINED, USERBLOCK + self.eof, UNDEFINED)
            + entry
        )

    def _small_group_bytes(self, parts, header, children):
        """Header (stab only) or given header, B-tree, heap and symbol node of a
        group with up to 8 children: children = [(name, header address, scratch)]."""
        names = b"\0" * 8
        offsets = {}
        for name, _, _ in children:
            offsets[name] = len(names)
            names += _pad8(name.encode() + b"\0")
        free = len(names)
        heap_data = names + struct.pack("<QQ", 1, 88 - free) + b"\0" * (88 - free - 16)
        ordered = sorted(children)
        tree = self._tree_node_template(1)
        tree[24:48] = np.frombuffer(struct.pack("<QQQ", 0, parts["snod"], offsets[ordered[-1][0]]), np.uint8)
        snod = b"SNOD\x01\x00" + struct.pack("<H", len(children))
        for name, address, scratch in ordered:
            if scratch:
                snod += struct.pack("<QQI4xQQ", offsets[name], address, 1, *scratch)
            else:
                snod += struct.pack("<QQI4x16x", offsets[name], address, 0)
        return b"".join(
            [
                header,
                tree.tobytes(),
                self._heap_header(parts["heap_data"], 88, free).tobytes(),
                heap_data,
                snod.ljust(_SNOD_SIZE, b"\0"),
            ]
        )

    def _root_group(self):
        header = _Header().add(0x0011, struct.pack("<QQ", self.root["tree"], self.root["heap"])).encode()
        children = [
            ("digitStruct", self.struct_header, (self.struct_tree, self.struct_heap)),
            ("#refs#", self.refs_header, (self.refs_tree_root, self.refs_heap)),
        ]
        return self._small_group_bytes(self.root, header.tobytes(), children)

    def _struct_group(self):
        first, cont, marks = self._group_parts(fields=("name", "bbox"), h5path=False)
        _put(first[None], 24, self.struct_cont, "<u8")
        _put(cont[None], marks["stab"], self.struct_tree, "<u8")
        _put(cont[None], marks["stab"] + 8, self.struct_heap, "<u8")
        for slot in range(2):
            _put(cont[None], marks["fields"] + 16 * slot + 4, self.gcol_address[0], "<u8")
            _put(cont[None], marks["fields"] + 16 * slot + 12, 1 + slot, "<u4")
        parts = {"snod": self.struct_snod, "heap_data": self.struct_heap_data}
        children = [("name", self.name_top, None), ("bbox", self.bbox_top, None)]
        rest = self._small_group_bytes(parts, b"", children)
        return first.tobytes() + cont.tobytes() + rest

    def _group_header_only(self):
        body = struct.pack("<QQ", self.refs_tree_root, self.refs_heap)
        return _Header().add(0x0011, body).encode().tobytes()

    def _canonical_empty(self):
        header = _Header()
        header.add(0x0001, _simple_space(2))
        header.add(0x0003, _U64, flags=1)
        header.add(0x0005, bytes.fromhex("0201020100000000"), flags=1)
        header.add(0x0008, struct.pack("<BBH", 3, 0, 16) + b"\0" * 16)
        header.add(0x0012, _mtime_body(self.mtime))
        header.attribute("MATLAB_empty", _U8, _SCALAR, b"\x01")
        header.string_attribute("MATLAB_class", "canonical empty")
        return header.encode(minimum=272).tobytes()

    def _write_names(self, handle):
        for rows, template, marks in self.name_groups:
            length = len(self.units[rows[0]])
            for start in range(0, len(rows), _CHUNK_ROWS):
                chunk = rows[start : start + _CHUNK_ROWS]
                block = np.tile(template, (len(chunk), 1))
                chars = np.stack([self.units[i] for i in chunk]).astype("<u2")
                block[:, marks["chars"] : marks["chars"] + 2 * length] = chars.view(np.uint8)
                names, lengths = _refs_names(chunk + 1)
                _put_path(block, marks["path_length"], marks["path"], names, lengths)
                handle.write(block.tobytes())

    def _global_heaps(self):
        heaps = np.zeros((self.gcol_count, _GCOL_SIZE), np.uint8)
        heaps[:, :16] = np.frombuffer(b"GCOL\x01\0\0\0" + struct.pack("<Q", _GCOL_SIZE), np.uint8)
        used = np.zeros(self.gcol_count, np.int64)
        # Collection 0: 'name' and 'bbox' (/digitStruct's MATLAB_fields).
        objects = [(0, 1, b"name"), (0, 2, b"bbox")]
        for collection, index, text in objects:
            self._heap_object(heaps, [collection], 16 + 24 * (index - 1), index, text)
        used[0] = 16 + 48
        # The rest: 5 objects per bbox group, 33 groups per collection, written
        # column-wise: slot s of every collection at once.
        groups = self.n
        per = self.per_collection
        for slot in range(per):
            collections = np.arange(1, self.gcol_count)
            present = slot + per * (collections - 1) < groups
            collections = collections[present]
            for f, field in enumerate(MATLAB_FIELDS):
                index = 5 * slot + f + 1
                self._heap_object(heaps, collections, 16 + 24 * (index - 1), index, field.encode())
            used[collections] = 16 + 24 * 5 * (slot + 1)
        # Free space object (index 0) covering the rest of each collection.
        for collection in range(self.gcol_count):
            start = used[collection]
            heaps[collection, start : start + 16] = np.frombuffer(
                struct.pack("<HH4xQ", 0, 0, _GCOL_SIZE - start), np.uint8
            )
        return heaps.tobytes()

    @staticmethod
    def _heap_object(heaps, rows, offset, index, text):
        raw = struct.pack("<HH4xQ", index, 0, len(text)) + _pad8(text)
        heaps[rows, offset : offset + len(raw)] = np.frombuffer(raw, np.uint8)

    def _write_blocks(self, handle):
        for rows, template, marks, count in self.block_groups:
            for start in range(0, len(rows), _CHUNK_ROWS):
                chunk = rows[start : start + _CHUNK_ROWS]
                handle.write(self._blocks(chunk, template, marks, count).tobytes())

    def _blocks(self, chunk, template, marks, count):
        block = np.tile(template, (len(chunk), 1))
        address = self.block_address[chunk]
        group = self.group_index[chunk]
        _put(block, 16 + 8, address + marks["cont"], "<u8")  # continuation address
        _put(block, marks["tree"] + 24 + 8, address + marks["snod"], "<u8")  # B-tree child 0
        _put(block, marks["heap"] + 24, address + marks["heap_data"], "<u8")
        for slot, field in enumerate(marks["snod_order"]):
            _put(block, marks["snod"] + 8 + 40 * slot + 8, address + marks["fields"][field], "<u8")
        _put(block, marks["cont.stab"], address + marks["tree"], "<u8")
        _put(block, marks["cont.stab"] + 8, address + marks["heap"], "<u8")
        names, lengths = _refs_names(group)
        _put_path(block, marks["cont.path_length"], marks["cont.path"], names, lengths)
        slot = self.gcol_slot[chunk]
        collection = self.gcol_address[1 + slot // self.per_collection]
        first_index = 5 * (slot % self.per_collection) + 1
        for f in range(5):
            _put(block, marks["cont.fields"] + 16 * f + 4, collection, "<u8")
            _put(block, marks["cont.fields"] + 16 * f + 12, first_index + f, "<u4")
        value_offset = marks["float.value"]
        starts = self.offsets[chunk]
        if count == 1:
            for f, field in enumerate(MATLAB_FIELDS):
                base = marks["fields"][f]
                _put(block, base + value_offset, self.values[field][starts], "<f8")
                _put_path(
                    block, base + marks["float.path_length"], base + marks["float.path"], names, lengths, 2
                )
            return block
        for f, field in enumerate(MATLAB_FIELDS):
            for j in range(count):
                t = f * count + j
                base = marks["float"] + 280 * t
                _put(block, marks["fields"][f] + marks["refs"] + 8 * j, address + base, "<u8")
                _put(block, base + value_offset, self.values[field][starts + j], "<f8")
                value_names, value_lengths = _refs_names(group + 1 + t)
                _put_path(
                    block,
                    base + marks["float.path_length"],
                    base + marks["float.path"],
                    value_names,
                    value_lengths,
                )
        return block

    def _write_top(self, handle):
        template, marks = self.top_template
        for address, refs in ((self.name_top, self.name_address), (self.bbox_top, self.block_address)):
            if self.n == 0:
                handle.write(template.tobytes())
                continue
            if self.top_compact:
                block = template.copy()
                block[marks["refs"] : marks["refs"] + 8 * self.n] = refs.astype("<u8").view(np.uint8)
                handle.write(block.tobytes())
            else:
                data_address = address + len(template)
                header, _ = self._reference_array(self.n, compact_data=False, data_address=data_address)
                handle.write(header.tobytes())
                handle.write(refs.astype("<u8").tobytes())

    def _write_refs_index(self, handle):
        index, address, is_group, tree, heap = self.refs_sorted
        count = len(index)
        # Local heap: the empty name, then every name (8 bytes each) by index.
        heap_data = np.zeros((count + 1, 8), np.uint8)
        heap_data[1:, :4] = self.refs_heap_names
        handle.write(self._heap_header(self.refs_heap_data, 8 + 8 * count, 1).tobytes())
        handle.write(heap_data.tobytes())
        # Symbol nodes: 8 entries each.
        snods = len(self.refs_snod)
        entries = np.zeros((snods * 2 * _LEAF_K, 40), np.uint8)
        _put(entries[:count], 0, 8 + 8 * index, "<u8")
        _put(entries[:count], 8, address, "<u8")
        _put(entries[:count], 16, is_group.astype(np.uint32), "<u4")
        _put(entries[:count], 24, tree, "<u8")
        _put(entries[:count], 32, heap, "<u8")
        entries = entries.reshape(snods, -1)
        head = np.zeros((snods, 8), np.uint8)
        head[:] = np.frombuffer(b"SNOD\x01\x00\x00\x00", np.uint8)
        used = np.minimum(2 * _LEAF_K, count - 2 * _LEAF_K * np.arange(snods))
        _put(head, 6, used, "<u2")
        handle.write(np.concatenate([head, entries], axis=1).tobytes())
        # B-tree nodes, level by level from the leaves up.
        for level, addresses, child_address, child_key in self.refs_tree_levels:
            nodes = np.zeros((len(addresses), _TREE_SIZE), np.uint8)
            nodes[:, :8] = np.frombuffer(b"TREE\0" + bytes([level]) + b"\0\0", np.uint8)
            children = len(child_address)
            used = np.minimum(2 * _NODE_K, children - 2 * _NODE_K * np.arange(len(addresses)))
            _put(nodes, 6, used, "<u2")
            undefined = np.array([UNDEFINED], np.uint64)
            _put(nodes, 8, np.concatenate([undefined, addresses[:-1].astype(np.uint64)]), "<u8")
            _put(nodes, 16, np.concatenate([addresses[1:].astype(np.uint64), undefined]), "<u8")
            # Key 0 of a node is the last key of the node before it ('' at first).
            node_of = np.arange(children) // (2 * _NODE_K)
            slot = np.arange(children) % (2 * _NODE_K)
            first_keys = np.concatenate([[0], child_key[2 * _NODE_K * np.arange(1, len(addresses)) - 1]])
            _put(nodes, 24, first_keys, "<u8")
            # Children and the keys after them, written slot by slot.
            for s in range(2 * _NODE_K):
                rows = node_of[slot == s]
                if not len(rows):
                    break
                sub = nodes[rows]
                _put(sub, 24 + 8 + 16 * s, child_address[slot == s], "<u8")
                _put(sub, 24 + 16 + 16 * s, child_key[slot == s], "<u8")
                nodes[rows] = sub
            handle.write(nodes.tobytes())


def random_digitstruct(n, seed=0):
    """N made-up SVHN-like images as a `DigitStruct` (for tests and benchmarks):
    names "1.png".."N.png", 1-5 digits (2 most often, as in SVHN train), whole-
    pixel boxes, labels 1..10.

    >>> boxes = random_digitstruct(3, seed=0)
    >>> len(boxes), boxes.names[0], int(boxes.offsets[-1]) >= 3
    (3, '1.png', True)
    """
    from kerasvhn.data.digitstruct import DigitStruct

    rng = np.random.default_rng(seed)
    counts = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.15, 0.55, 0.27, 0.0297, 0.0003])
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(offsets[-1])
    first = np.repeat(rng.integers(0, 300, n), counts)
    position = np.arange(total) - np.repeat(offsets[:-1], counts)
    width = rng.integers(5, 60, total).astype(np.float64)
    return DigitStruct(
        [f"{i + 1}.png" for i in range(n)],
        label=rng.integers(1, 11, total).astype(np.float64),
        left=(first + position * 40).astype(np.float64),
        top=np.repeat(rng.integers(0, 100, n), counts).astype(np.float64),
        width=width,
        height=np.repeat(rng.integers(10, 200, n), counts).astype(np.float64),
        offsets=offsets,
    )
