# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The hot loop of kerasvhn.data.digitstruct: walks the HDF5 object headers that
MATLAB writes for a digitStruct.mat, straight from the file's bytes.

Only the two loops live here. kerasvhn/data/digitstruct.py opens the file with
h5py, checks the superblock, reads the /digitStruct/name and /bbox reference
arrays, calls these functions (or their pure-Python twins, which must agree
status for status) and reads through h5py every image given a nonzero status.
Every read is bounds-checked against the buffer and every layout assumption is
checked (see the status codes); nothing here raises or guesses.
"""

from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy, memset

# Status codes: keep in step with STATUS in digitstruct.py.
cdef enum:
    OK = 0
    BAD_HEADER = 1
    BAD_MESSAGE = 2
    NOT_DATASET = 3
    UNSUPPORTED_TYPE = 4
    UNSUPPORTED_LAYOUT = 5
    BAD_SHAPE = 6
    BAD_GROUP = 7
    FIELD_COUNTS = 8
    MATLAB_EMPTY = 9
    UNSUPPORTED_MESSAGE = 10

cdef enum:
    MAX_CHUNKS = 16  # continuation chunks followed per object header
    MAX_CHILDREN = 32  # 2K children per group B-tree node (K = 16, libhdf5's default)
    MAX_SYMBOLS = 8  # 2K entries per symbol node (K = 4, libhdf5's default)
    MAX_FREE_BLOCKS = 64  # local heap free-list blocks followed

cdef enum:
    F64 = 1  # IEEE float64, little-endian
    U16 = 2  # uint16, little-endian (MATLAB char)
    REF = 3  # object reference

cdef uint64_t UNDEFINED = 0xFFFFFFFFFFFFFFFFULL

# Datatype message bodies accepted, byte for byte.
cdef const char* F64_TYPE = (b"\x11\x20\x3f\x00\x08\x00\x00\x00\x00\x00"
                             b"\x40\x00\x34\x0b\x00\x34\xff\x03\x00\x00")
cdef const char* U16_TYPE = b"\x10\x00\x00\x00\x02\x00\x00\x00\x00\x00\x10\x00"
cdef const char* REF_TYPE = b"\x17\x00\x00\x00\x08\x00\x00\x00"
# bbox field names as stored in the group's local heap (NUL included), in the
# order of the output columns: label, left, top, width, height.
cdef const char* FIELD_NAMES[5]
FIELD_NAMES[:] = [b"label", b"left", b"top", b"width", b"height"]
cdef int FIELD_LENGTHS[5]
FIELD_LENGTHS[:] = [6, 5, 4, 6, 7]


cdef struct Obj:
    int has_space
    int has_type
    int has_layout
    int has_stab
    int empty
    int dtype
    int vector
    int64_t n
    int64_t data
    int64_t nbytes
    uint64_t btree
    uint64_t heap


cdef inline uint64_t rd16(const uint8_t* p) noexcept nogil:
    return <uint64_t>p[0] | (<uint64_t>p[1] << 8)


cdef inline uint64_t rd32(const uint8_t* p) noexcept nogil:
    return rd16(p) | (rd16(p + 2) << 16)


cdef inline uint64_t rd64(const uint8_t* p) noexcept nogil:
    return rd32(p) | (rd32(p + 4) << 32)


cdef inline double rdf64(const uint8_t* p) noexcept nogil:
    cdef uint64_t bits = rd64(p)
    cdef double value
    memcpy(&value, &bits, 8)
    return value


cdef inline uint64_t pad8(uint64_t n) noexcept nogil:
    return (n + 7) & ~(<uint64_t>7)


cdef inline int64_t name_end(const uint8_t* buf, int64_t data, uint64_t data_size,
                             uint64_t offset) noexcept nogil:
    """Length of the NUL-terminated name at offset in a local heap, or -1."""
    cdef const void* nul
    if offset >= data_size:
        return -1
    nul = memchr(buf + data + offset, 0, data_size - offset)
    if nul == NULL:
        return -1
    return <const uint8_t*>nul - (buf + data + <int64_t>offset)


cdef inline int name_compare(const uint8_t* buf, int64_t data, uint64_t a, int64_t la,
                             uint64_t b, int64_t lb) noexcept nogil:
    """strcmp of two heap names of known lengths."""
    cdef int c = memcmp(buf + data + a, buf + data + b, la if la < lb else lb)
    if c != 0:
        return c
    return (la > lb) - (la < lb)


cdef inline int span(int64_t size, int64_t base, uint64_t address, uint64_t length,
                     int64_t* start) noexcept nogil:
    """start = base + address when [start, start + length) lies in the buffer."""
    if address > <uint64_t>size or length > <uint64_t>size:
        return 0
    if base + <int64_t>address + <int64_t>length > size:
        return 0
    start[0] = base + <int64_t>address
    return 1


cdef int parse_header(const uint8_t* buf, int64_t size, int64_t base, uint64_t address,
                      Obj* o) noexcept nogil:
    """Reads the version-1 object header at address into o."""
    cdef int64_t pos, p, end, body
    cdef int64_t chunk_start[MAX_CHUNKS]
    cdef int64_t chunk_end[MAX_CHUNKS]
    cdef int chunks = 1, current = 0, rank, flags, space_flags, version, r, nonunit
    cdef uint64_t messages, seen = 0, mtype, msize, dim, need, n
    cdef int64_t name_at, dims
    cdef uint64_t name_length
    memset(o, 0, sizeof(Obj))
    if not span(size, base, address, 16, &pos):
        return BAD_HEADER
    if buf[pos] != 1:
        return BAD_HEADER
    messages = rd16(buf + pos + 2)
    if not span(size, base, address + 16, rd32(buf + pos + 8), &chunk_start[0]):
        return BAD_HEADER
    chunk_end[0] = chunk_start[0] + <int64_t>rd32(buf + pos + 8)
    while current < chunks:
        p = chunk_start[current]
        end = chunk_end[current]
        current += 1
        while p < end:
            if end - p < 8:
                return BAD_MESSAGE
            mtype = rd16(buf + p)
            msize = rd16(buf + p + 2)
            flags = buf[p + 4]
            body = p + 8
            if <int64_t>msize > end - body or msize % 8 != 0:
                return BAD_MESSAGE
            seen += 1
            if seen > messages:
                return BAD_MESSAGE
            if flags & ~0x01:
                return UNSUPPORTED_MESSAGE  # shared or otherwise flagged: not as MATLAB writes
            if mtype == 0x0001:  # dataspace
                if o.has_space:
                    return BAD_MESSAGE
                o.has_space = 1
                if msize < 8:
                    return BAD_MESSAGE
                rank = buf[body + 1]
                space_flags = buf[body + 2]
                if buf[body] == 1:
                    need = 8 + 8 * rank * (1 + (space_flags & 1) + ((space_flags >> 1) & 1))
                    dims = body + 8
                elif buf[body] == 2:
                    if buf[body + 3] == 2:
                        return UNSUPPORTED_LAYOUT  # null dataspace
                    if buf[body + 3] > 2:
                        return BAD_MESSAGE
                    need = 4 + 8 * rank * (1 + (space_flags & 1))
                    dims = body + 4
                else:
                    return BAD_MESSAGE
                if need > msize:
                    return BAD_MESSAGE
                if rank > 2:
                    return BAD_SHAPE
                n = 1
                nonunit = 0
                for r in range(rank):
                    dim = rd64(buf + dims + 8 * r)
                    if space_flags & 1 and dim > rd64(buf + dims + 8 * (rank + r)):
                        return BAD_MESSAGE  # larger than its maximum (unlimited is all ones)
                    if dim > 0x7FFFFFFF:
                        return BAD_SHAPE
                    n *= dim
                    nonunit += dim != 1
                if n > <uint64_t>size:
                    return BAD_SHAPE
                o.n = <int64_t>n
                o.vector = nonunit <= 1
            elif mtype == 0x0003:  # datatype
                if o.has_type:
                    return BAD_MESSAGE
                o.has_type = 1
                if msize >= 20 and memcmp(buf + body, F64_TYPE, 20) == 0:
                    o.dtype = F64
                elif msize >= 12 and memcmp(buf + body, U16_TYPE, 12) == 0:
                    o.dtype = U16
                elif msize >= 8 and memcmp(buf + body, REF_TYPE, 8) == 0:
                    o.dtype = REF
            elif mtype == 0x0008:  # data layout
                if o.has_layout:
                    return BAD_MESSAGE
                o.has_layout = 1
                if msize < 4 or (buf[body] != 3 and buf[body] != 4):
                    return UNSUPPORTED_LAYOUT
                if buf[body + 1] == 0:  # compact: the data is in the message
                    o.nbytes = <int64_t>rd16(buf + body + 2)
                    if <uint64_t>(4 + o.nbytes) > msize:
                        return BAD_MESSAGE
                    o.data = body + 4
                elif buf[body + 1] == 1:  # contiguous
                    if msize < 18:
                        return BAD_MESSAGE
                    if rd64(buf + body + 2) == UNDEFINED:
                        return UNSUPPORTED_LAYOUT  # never written: reads as the fill value
                    if not span(size, base, rd64(buf + body + 2), rd64(buf + body + 10), &o.data):
                        return BAD_MESSAGE
                    o.nbytes = <int64_t>rd64(buf + body + 10)
                else:
                    return UNSUPPORTED_LAYOUT  # chunked or virtual
            elif mtype == 0x0005:  # fill value: not needed, but must decode
                if msize < 4 or buf[body] < 1 or buf[body] > 3:
                    return BAD_MESSAGE
                if buf[body] < 3 and (buf[body] == 1 or buf[body + 3]):
                    if msize < 8 or 8 + rd32(buf + body + 4) > msize:
                        return BAD_MESSAGE
                elif buf[body] == 3 and buf[body + 1] & 0x20:
                    if msize < 8 or 6 + rd32(buf + body + 2) > msize:
                        return BAD_MESSAGE
            elif mtype == 0x0004:  # old fill value
                if msize < 4 or 4 + rd32(buf + body) > msize:
                    return BAD_MESSAGE
            elif mtype == 0x000C:  # attribute: only MATLAB_empty matters here
                if msize < 8:
                    return BAD_MESSAGE
                version = buf[body]
                name_length = rd16(buf + body + 2)
                if version == 1:
                    need = 8 + pad8(name_length) + pad8(rd16(buf + body + 4)) + pad8(rd16(buf + body + 6))
                    name_at = body + 8
                elif version == 2 or version == 3:
                    need = 8 + (version == 3) + name_length + rd16(buf + body + 4) + rd16(buf + body + 6)
                    name_at = body + 8 + (version == 3)
                else:
                    return BAD_MESSAGE
                if need > msize or name_length == 0 or buf[name_at + name_length - 1] != 0 \
                        or memchr(buf + name_at, 0, name_length) != buf + name_at + name_length - 1:
                    return BAD_MESSAGE  # sizes overrun the message, or the name is not one C string
                if name_length == 13 and memcmp(buf + name_at, b"MATLAB_empty", 13) == 0:
                    o.empty = 1
            elif mtype == 0x0010:  # continuation
                if msize < 16 or chunks == MAX_CHUNKS:
                    return BAD_MESSAGE
                if not span(size, base, rd64(buf + body), rd64(buf + body + 8), &chunk_start[chunks]):
                    return BAD_MESSAGE
                chunk_end[chunks] = chunk_start[chunks] + <int64_t>rd64(buf + body + 8)
                chunks += 1
            elif mtype == 0x0011:  # symbol table (old-style group)
                if o.has_stab or msize < 16:
                    return BAD_MESSAGE
                o.has_stab = 1
                o.btree = rd64(buf + body)
                o.heap = rd64(buf + body + 8)
            elif (mtype != 0x0000 and mtype != 0x000D and mtype != 0x000E and mtype != 0x0012
                    and mtype != 0x0016):
                # Not NIL, comment, times or B-tree K: filters, external files,
                # new-style groups, dense attributes... not walked here.
                return UNSUPPORTED_MESSAGE
            p = body + <int64_t>msize
    if seen != messages:
        return BAD_MESSAGE
    return OK


cdef int check_dataset(Obj* o, int dtype_a, int dtype_b) noexcept nogil:
    cdef int64_t item
    if o.has_stab or not (o.has_space and o.has_type and o.has_layout):
        return NOT_DATASET
    if o.empty:
        return MATLAB_EMPTY
    if o.dtype == 0 or (o.dtype != dtype_a and o.dtype != dtype_b):
        return UNSUPPORTED_TYPE
    if not o.vector:
        return BAD_SHAPE
    item = 2 if o.dtype == U16 else 8
    if o.nbytes != o.n * item:
        return BAD_SHAPE
    return OK


cdef int find_fields(const uint8_t* buf, int64_t size, int64_t base, Obj* group,
                     uint64_t* out) noexcept nogil:
    """Looks up the five bbox fields in an old-style group: local heap, one leaf
    B-tree node (type 0, level 0) and its symbol nodes. The node's keys must
    bracket its symbol nodes' names, which must be in strcmp order -- what
    libhdf5's lookup relies on -- and every field must appear exactly once."""
    cdef int64_t heap, data, node, snod, entry, length, key_length, previous_length
    cdef uint64_t data_size, offset, key, previous
    cdef int used, i, j, f, count
    memset(out, 0, 5 * sizeof(uint64_t))
    if not group.has_stab or group.has_space or group.has_type or group.has_layout:
        return BAD_GROUP
    if not span(size, base, group.heap, 32, &heap):
        return BAD_GROUP
    if memcmp(buf + heap, b"HEAP", 4) != 0 or buf[heap + 4] != 0:
        return BAD_GROUP
    data_size = rd64(buf + heap + 8)
    if not span(size, base, rd64(buf + heap + 24), data_size, &data):
        return BAD_GROUP
    offset = rd64(buf + heap + 16)  # the free list, which libhdf5 checks when it loads the heap
    for i in range(MAX_FREE_BLOCKS + 1):
        if offset == 1:  # end of list
            break
        if i == MAX_FREE_BLOCKS or offset >= data_size or data_size - offset < 16:
            return BAD_GROUP
        if rd64(buf + data + offset) == 0 or rd64(buf + data + offset + 8) > data_size - offset:
            return BAD_GROUP
        offset = rd64(buf + data + offset)
    if not span(size, base, group.btree, 24, &node):
        return BAD_GROUP
    if memcmp(buf + node, b"TREE", 4) != 0 or buf[node + 4] != 0 or buf[node + 5] != 0:
        return BAD_GROUP  # not a group B-tree, or more than one level (MATLAB: 5 names, one leaf)
    used = <int>rd16(buf + node + 6)
    if used < 1 or used > MAX_CHILDREN or node + 24 + 16 * used + 8 > size:
        return BAD_GROUP
    previous = rd64(buf + node + 24)  # key 0: the name before every name here
    previous_length = name_end(buf, data, data_size, previous)
    if previous_length < 0:
        return BAD_GROUP
    for i in range(used):
        key = rd64(buf + node + 24 + 16 * i + 16)
        key_length = name_end(buf, data, data_size, key)
        if key_length < 0:
            return BAD_GROUP
        if not span(size, base, rd64(buf + node + 24 + 16 * i + 8), 8, &snod):
            return BAD_GROUP
        if memcmp(buf + snod, b"SNOD", 4) != 0 or buf[snod + 4] != 1:
            return BAD_GROUP
        count = <int>rd16(buf + snod + 6)
        if count < 1 or count > MAX_SYMBOLS or snod + 8 + 40 * count > size:
            return BAD_GROUP
        for j in range(count):
            entry = snod + 8 + 40 * j
            if rd32(buf + entry + 16) > 2:
                return BAD_GROUP  # cache type other than none, group, soft link
            offset = rd64(buf + entry)
            length = name_end(buf, data, data_size, offset)
            if length < 0:
                return BAD_GROUP
            # previous < name <= key, so names ascend and stay within the keys
            if name_compare(buf, data, previous, previous_length, offset, length) >= 0 \
                    or name_compare(buf, data, offset, length, key, key_length) > 0:
                return BAD_GROUP
            previous, previous_length = offset, length
            for f in range(5):
                if (length + 1 == FIELD_LENGTHS[f]
                        and memcmp(buf + data + offset, FIELD_NAMES[f], length) == 0):
                    if out[f] != 0:
                        return BAD_GROUP  # the same field twice
                    out[f] = rd64(buf + entry + 8)
                    if out[f] == 0:
                        return BAD_GROUP
        previous, previous_length = key, key_length
    for f in range(5):
        if out[f] == 0:
            return BAD_GROUP
    return OK


cdef int structure_one(const uint8_t* buf, int64_t size, int64_t base, uint64_t name_address,
                       uint64_t bbox_address, int64_t* row) noexcept nogil:
    cdef Obj o
    cdef uint64_t fields[5]
    cdef int status, f
    status = parse_header(buf, size, base, name_address, &o)
    if status == OK:
        status = check_dataset(&o, U16, U16)
    if status != OK:
        return status
    row[1] = o.data
    row[2] = o.n
    status = parse_header(buf, size, base, bbox_address, &o)
    if status == OK:
        status = find_fields(buf, size, base, &o, fields)
    if status != OK:
        return status
    for f in range(5):
        status = parse_header(buf, size, base, fields[f], &o)
        if status == OK:
            status = check_dataset(&o, F64, REF)
        if status != OK:
            return status
        if f == 0:
            row[3] = o.n
        elif o.n != row[3]:
            return FIELD_COUNTS
        row[4 + f] = 1 if o.dtype == F64 else 2
        row[9 + f] = o.data
    return OK


def parse_structure(const uint8_t[::1] buf, Py_ssize_t base, const uint64_t[::1] name_address,
                    const uint64_t[::1] bbox_address, int64_t[:, ::1] info,
                    Py_ssize_t start, Py_ssize_t stop):
    """Pass 1 over images [start, stop): fills info rows (status, name data
    offset, name length, box count, 5 field kinds, 5 field data offsets)."""
    cdef Py_ssize_t i
    cdef int64_t size = buf.shape[0]
    if info.shape[1] != 14 or name_address.shape[0] != bbox_address.shape[0]:
        raise ValueError("info must be (N, 14) and the address arrays of equal length")
    if not (0 <= start <= stop <= info.shape[0] == name_address.shape[0]):
        raise ValueError("start/stop out of range")
    if size == 0:
        info[start:stop, 0] = BAD_HEADER
        return
    with nogil:
        for i in range(start, stop):
            info[i, 0] = structure_one(&buf[0], size, base, name_address[i], bbox_address[i],
                                       &info[i, 0])


cdef int values_one(const uint8_t* buf, int64_t size, int64_t base, int64_t* row, int64_t box,
                    int64_t name_start, uint16_t* chars, double* values, int64_t total) noexcept nogil:
    cdef Obj o
    cdef int64_t j, f, count = row[3], at
    cdef int status
    for j in range(row[2]):
        chars[name_start + j] = <uint16_t>rd16(buf + row[1] + 2 * j)
    for f in range(5):
        at = row[9 + f]
        for j in range(count):
            if row[4 + f] == 1:
                values[f * total + box + j] = rdf64(buf + at + 8 * j)
                continue
            status = parse_header(buf, size, base, rd64(buf + at + 8 * j), &o)
            if status == OK:
                status = check_dataset(&o, F64, F64)
            if status == OK and o.n != 1:
                status = BAD_SHAPE
            if status != OK:
                return status
            values[f * total + box + j] = rdf64(buf + o.data)
    return OK


def parse_values(const uint8_t[::1] buf, Py_ssize_t base, int64_t[:, ::1] info,
                 const int64_t[::1] box_offsets, const int64_t[::1] name_offsets,
                 uint16_t[::1] chars, double[:, ::1] values, Py_ssize_t start, Py_ssize_t stop):
    """Pass 2 over images [start, stop) whose status is 0: copies the name
    characters and the box values (dereferencing the (1,1) value datasets);
    sets the status of an image whose values cannot be read this way."""
    cdef Py_ssize_t i
    cdef int64_t size = buf.shape[0], total = values.shape[1]
    if values.shape[0] != 5 or info.shape[1] != 14:
        raise ValueError("values must be (5, boxes) and info (N, 14)")
    if not (0 <= start <= stop <= info.shape[0]) or box_offsets.shape[0] != info.shape[0] + 1 \
            or name_offsets.shape[0] != info.shape[0] + 1:
        raise ValueError("offsets must have N + 1 entries and start/stop be in range")
    if box_offsets[info.shape[0]] != total or name_offsets[info.shape[0]] != chars.shape[0]:
        raise ValueError("offsets disagree with the output sizes")
    for i in range(start, stop):
        if info[i, 0] == OK and (box_offsets[i + 1] - box_offsets[i] != info[i, 3]
                                 or name_offsets[i + 1] - name_offsets[i] != info[i, 2]):
            raise ValueError("offsets disagree with the box counts of pass 1")
    if size == 0 or stop == start:
        return
    cdef uint16_t* chars_at = &chars[0] if chars.shape[0] else NULL
    cdef double* values_at = &values[0, 0] if total else NULL
    with nogil:
        for i in range(start, stop):
            if info[i, 0] == OK:
                info[i, 0] = values_one(&buf[0], size, base, &info[i, 0], box_offsets[i],
                                        name_offsets[i], chars_at, values_at, total)
