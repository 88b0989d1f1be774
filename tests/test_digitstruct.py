"""digitStruct.mat: the real MATLAB fixture (tests/data), generated files, both walks,
errors, fuzz."""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasvhn.data import digitstruct as digitstruct_module
from kerasvhn.data.digitstruct import (
    FIELDS,
    DigitStruct,
    DigitStructError,
    extension_available,
    read_digitstruct,
)
from kerasvhn.data.digitstruct_writer import random_digitstruct, write_digitstruct

FIXTURE = Path(__file__).resolve().parent / "data" / "svhn-train-sample"
PACKAGE_ROOT = Path(digitstruct_module.__file__).resolve().parents[2]

# Subprocesses import the parser from the folder holding this kerasvhn package
# (argv[1]); kerasvhn.data imports no Keras, so they start in a fraction of a second.
LIGHT_IMPORT = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
"""

# "fast" needs the compiled extension (and no KERASVHN_NO_EXTENSIONS=1); "pure" is
# its Python twin; "h5py" is the per-value reference every other path must equal.
WALKS = [
    pytest.param(
        "fast",
        marks=pytest.mark.skipif(
            not extension_available(), reason="compiled extension not built or switched off"
        ),
    ),
    "pure",
]
METHODS = WALKS + ["h5py"]


@pytest.fixture(scope="module")
def fixture_dir():
    assert (FIXTURE / "digitStruct.mat").is_file(), f"the real SVHN fixture is missing from {FIXTURE}"
    return FIXTURE


@pytest.fixture(scope="module")
def expected(fixture_dir):
    with open(fixture_dir / "expected.jsonl") as lines:
        return [json.loads(line) for line in lines]


def record(name, label, left, top, width, height):
    return {"name": name, "label": label, "left": left, "top": top, "width": width, "height": height}


MIXED = [
    record("1.png", [1.0, 9.0], [246.0, 323.0], [77.0, 81.0], [81.0, 96.0], [219.0, 219.0]),
    record("2.png", [10.0], [77.0], [29.0], [23.0], [32.0]),
    record(
        "3.png", [2.0, 5.0, 10.0], [17.0, 25.0, 33.0], [-1.0, 5.0, 5.0], [8.0, 9.0, 9.0], [15.0, 15.0, 15.0]
    ),
    record("4.png", [3.0, 3.0, 3.0, 3.0, 3.0], [1.5, 2, 3, 4, 5], [6.0] * 5, [0.0] * 5, [1e300] * 5),
]


def h5py_records(path):
    """Plain h5py, one dereference per value: the way expected.jsonl was made."""
    with h5py.File(path, "r") as f:
        names, boxes = f["digitStruct/name"], f["digitStruct/bbox"]
        out = []
        for i in range(names.shape[0]):
            name = "".join(chr(c) for c in f[names[i, 0]][()].ravel())
            group = f[boxes[i, 0]]
            entry = {"name": name}
            for field in FIELDS:
                data = group[field]
                if data.dtype == object:
                    entry[field] = [float(f[ref][0, 0]) for ref in data[:, 0]]
                else:
                    entry[field] = [float(data[0, 0])]
            out.append(entry)
        return out


# ---- the real MATLAB file ---------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_fixture_parses_exactly_as_expected(fixture_dir, expected, method):
    boxes = read_digitstruct(fixture_dir / "digitStruct.mat", method=method)
    assert list(boxes.records()) == expected
    assert len(boxes) == 39 and boxes.names[:3] == ["1.png", "2.png", "3.png"]
    if method != "h5py":
        assert boxes.method == method and len(boxes.fallback) == 0  # walked, nothing declined


def test_fixture_columns_and_labels(fixture_dir, expected):
    boxes = read_digitstruct(fixture_dir / "digitStruct.mat")
    assert boxes.offsets.dtype == np.int64 and boxes.offsets.shape == (40,)
    assert boxes.counts().tolist() == [len(e["label"]) for e in expected]
    assert sorted(np.bincount(boxes.counts()).tolist()) == [0, 2, 7, 30]  # 2 one-digit, 30 two, 7 three
    for field in FIELDS:
        column = getattr(boxes, field)
        assert column.dtype == np.float64
        assert column.tolist() == [v for e in expected for v in e[field]]
    assert boxes[0] == expected[0] and boxes[-1] == expected[-1]
    numbers = ["".join(str(int(v) % 10) for v in e["label"]) for e in expected]
    assert boxes.numbers() == numbers
    labels = boxes.labels(max_digits=2)
    assert labels["length"].tolist() == [min(len(n), 2) if len(n) <= 2 else 3 for n in numbers]
    assert labels["digits"][0].tolist() == [int(numbers[0][0]), int(numbers[0][1])]


def test_env_var_forces_the_pure_walk_in_a_subprocess(fixture_dir, expected):
    code = LIGHT_IMPORT + (
        "import json; from kerasvhn.data.digitstruct import read_digitstruct; "
        "b = read_digitstruct(sys.argv[2]); print(b.method); print(json.dumps(list(b.records())))"
    )

    def run(env):
        result = subprocess.run(
            [sys.executable, "-c", code, str(PACKAGE_ROOT), str(fixture_dir / "digitStruct.mat")],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        method, records = result.stdout.strip().splitlines()[-2:]
        return method, json.loads(records)

    assert run({"KERASVHN_NO_EXTENSIONS": "1"}) == ("pure", expected)
    if extension_available():
        assert run({"KERASVHN_NO_EXTENSIONS": "0"}) == ("fast", expected)


def test_writer_reproduces_the_matlab_object_tree(fixture_dir, expected, tmp_path):
    """Written from the fixture's records, the file holds the fixture's objects:
    same paths (MATLAB's #refs# naming), kinds, shapes, dtypes, attributes,
    storage, fill values, data and reference targets."""
    path = write_digitstruct(tmp_path / "digitStruct.mat", expected)
    assert describe(path) == describe(fixture_dir / "digitStruct.mat")
    ours, theirs = Path(path).read_bytes(), (fixture_dir / "digitStruct.mat").read_bytes()
    assert ours[:19] == theirs[:19] == b"MATLAB 7.3 MAT-file"
    assert ours[116:128] == theirs[116:128]  # subsystem offset, version 0x0200, 'IM'
    assert ours[512:520] == b"\x89HDF\r\n\x1a\n"


def describe(path):
    """Every object of an HDF5 file as h5py sees it."""

    def attrs(obj):
        out = {}
        for key, value in obj.attrs.items():
            if isinstance(value, np.ndarray):
                value = [bytes(v) for v in value] if value.dtype == object else value.tolist()
            out[key] = value
        return out

    objects = {}
    with h5py.File(path, "r") as f:
        assert f.userblock_size == 512

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                objects[name] = ("group", attrs(obj))
                return
            plist = obj.id.get_create_plist()
            data = obj[()]
            data = [f[r].name for r in data.ravel()] if obj.dtype == object else data.tolist()
            fill = f[obj.fillvalue].name if obj.dtype == object and obj.fillvalue else obj.fillvalue
            objects[name] = (
                obj.shape,
                str(obj.dtype),
                attrs(obj),
                plist.get_layout(),
                obj.chunks,
                data,
                fill,
            )

        objects["/"] = ("group", attrs(f))
        f.visititems(visit)
    return objects


# ---- generated files ----------------------------------------------------------

names = st.text(
    alphabet=st.characters(min_codepoint=1, max_codepoint=0xFFFF, exclude_categories=("Cs",)),
    min_size=1,
    max_size=12,
)
anything = st.floats(allow_nan=False, allow_infinity=False)
size = st.floats(min_value=0, allow_nan=False, allow_infinity=False)


@st.composite
def records_strategy(draw):
    out = []
    for _ in range(draw(st.integers(0, 6))):
        k = draw(st.integers(1, 6))
        lists = lambda values: st.lists(values, min_size=k, max_size=k)  # noqa: E731
        out.append(
            record(
                draw(names),
                draw(lists(st.integers(1, 10).map(float))),
                draw(lists(anything)),
                draw(lists(anything)),
                draw(lists(size)),
                draw(lists(size)),
            )
        )
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=records_strategy())
def test_generated_files_round_trip(tmp_path, records):
    path = write_digitstruct(tmp_path / "round.mat", records)
    results = {method: read_digitstruct(path, method=method) for method in ("auto", "pure")}
    for boxes in results.values():
        assert list(boxes.records()) == records
        assert len(boxes.fallback) == 0
    if records:
        assert h5py_records(path) == records


def test_empty_file_round_trips(tmp_path):
    path = write_digitstruct(tmp_path / "empty.mat", [])
    for method in ("auto", "pure", "h5py"):
        boxes = read_digitstruct(path, method=method)
        assert len(boxes) == 0 and boxes.offsets.tolist() == [0] and list(boxes.records()) == []
        assert boxes.numbers() == [] and boxes.labels()["digits"].shape == (0, 5)


@pytest.mark.parametrize("method", WALKS)
def test_large_file_with_contiguous_reference_arrays(tmp_path, method):
    """Past 2,048 images /digitStruct/name and bbox no longer fit compact storage."""
    source = random_digitstruct(2500, seed=3)
    path = write_digitstruct(tmp_path / "large.mat", source)
    with h5py.File(path, "r") as f:
        assert f["digitStruct/name"].id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS
    boxes = read_digitstruct(path, method=method)
    assert boxes.names == source.names and np.array_equal(boxes.offsets, source.offsets)
    for field in FIELDS:
        assert np.array_equal(getattr(boxes, field), getattr(source, field))
    assert len(boxes.fallback) == 0


def test_our_parser_plain_h5py_and_mat73_agree(tmp_path):
    mat73 = pytest.importorskip("mat73")
    path = write_digitstruct(tmp_path / "agree.mat", MIXED)
    ours = list(read_digitstruct(path).records())
    assert ours == MIXED
    assert h5py_records(path) == MIXED
    loaded = mat73.loadmat(str(path))["digitStruct"]
    assert loaded["name"] == [r["name"] for r in MIXED]
    for bbox, expected_record in zip(loaded["bbox"], MIXED):
        for field in FIELDS:
            assert (
                np.atleast_1d(np.asarray(bbox[field], np.float64)).ravel().tolist() == expected_record[field]
            )


def test_libhdf5_can_extend_a_generated_file(tmp_path):
    """Opened for writing, libhdf5 inserts into our B-trees and heaps; the file
    still reads the same (the extra bbox child is ignored)."""
    path = write_digitstruct(tmp_path / "extend.mat", MIXED)
    with h5py.File(path, "r+") as f:
        f["#refs#"].create_dataset("zz", data=[[1.0]])
        group = f[f["digitStruct/bbox"][0, 0]]
        group.create_dataset("score", data=[[0.5]])
        for i in range(40):
            f.create_group(f"extra{i}")
    assert list(read_digitstruct(path).records()) == MIXED
    with h5py.File(path, "r") as f:
        assert f["#refs#/zz"][0, 0] == 1.0 and len(f) == 42


def write_with_h5py(path, records, **dataset_options):
    """A digitStruct.mat laid out like MATLAB's but written by h5py (another
    writer): contiguous storage by default, chunked when compression is asked."""
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        name_refs, bbox_refs = [], []
        for i, entry in enumerate(records):
            chars = np.frombuffer(entry["name"].encode("utf-16-le"), "<u2").reshape(-1, 1)
            name_refs.append(refs.create_dataset(f"n{i}", data=chars, **dataset_options).ref)
            group = refs.create_group(f"b{i}")
            for field in FIELDS:
                values = entry[field]
                if len(values) == 1:
                    group.create_dataset(field, data=np.array([values], np.float64), **dataset_options)
                else:
                    targets = [
                        refs.create_dataset(
                            f"v{i}{field}{j}", data=[[v]], dtype=np.float64, **dataset_options
                        ).ref
                        for j, v in enumerate(values)
                    ]
                    group.create_dataset(field, data=np.array(targets).reshape(-1, 1), dtype=h5py.ref_dtype)
            bbox_refs.append(group.ref)
        top = f.create_group("digitStruct")
        top.create_dataset("name", data=np.array(name_refs).reshape(-1, 1), dtype=h5py.ref_dtype)
        top.create_dataset("bbox", data=np.array(bbox_refs).reshape(-1, 1), dtype=h5py.ref_dtype)
    return path


@pytest.mark.parametrize("method", WALKS)
def test_another_writer_contiguous_storage_is_walked(tmp_path, method):
    path = write_with_h5py(tmp_path / "h5py.mat", MIXED)
    boxes = read_digitstruct(path, method=method)
    assert list(boxes.records()) == MIXED and len(boxes.fallback) == 0


@pytest.mark.parametrize("method", WALKS)
def test_compressed_file_falls_back_to_h5py(tmp_path, method):
    path = write_with_h5py(tmp_path / "gzip.mat", MIXED, compression="gzip", shuffle=True)
    boxes = read_digitstruct(path, method=method)
    assert list(boxes.records()) == MIXED
    assert boxes.fallback.tolist() == [0, 1, 2, 3]  # every image declined by the walk, read by h5py


@pytest.mark.parametrize("method", WALKS)
def test_one_odd_image_falls_back_alone(tmp_path, method):
    """A chunked+compressed value, a MATLAB empty name and a uint8 field in
    three images: only those go through h5py; the result is unchanged."""
    records = [
        record(f"{i}.png", [float(i % 10 + 1)] * 2, [1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0])
        for i in range(8)
    ]
    path = write_digitstruct(tmp_path / "odd.mat", records)
    with h5py.File(path, "r+") as f:
        boxes, names = f["digitStruct/bbox"], f["digitStruct/name"]
        left = f[boxes[2, 0]]["left"]
        left[1, 0] = f["#refs#"].create_dataset("zz1", data=[[2.0]], chunks=(1, 1), compression="gzip").ref
        empty = f["#refs#"].create_dataset("zz2", data=np.array([1, 0], np.uint64))
        empty.attrs["MATLAB_class"] = np.bytes_("char")
        empty.attrs["MATLAB_empty"] = np.uint8(1)
        names[5, 0] = empty.ref
        group = f[boxes[6, 0]]
        del group["height"]
        group.create_dataset("height", data=np.array([[7], [8]], np.uint8))
    records[5]["name"] = ""
    result = read_digitstruct(path, method=method)
    assert list(result.records()) == records
    assert result.fallback.tolist() == [2, 5, 6]


# ---- errors -------------------------------------------------------------------


def test_bad_method():
    with pytest.raises(ValueError, match="method must be"):
        read_digitstruct("x.mat", method="turbo")


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: p / "missing.mat", "no such file"),
        (lambda p: p, "is a directory"),
        (lambda p: _write(p / "empty.mat", b""), "not an HDF5"),
        (lambda p: _write(p / "text.mat", b"hello, not a MAT-file\n" * 50), "not an HDF5"),
        (
            lambda p: _write(p / "v5.mat", b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + b"\0" * 200),
            "v5/v7 MAT-file",
        ),
    ],
)
def test_not_a_digitstruct_file(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(DigitStructError, match=problem) as error:
        read_digitstruct(path)
    assert str(path) in str(error.value)


def _write(path, data):
    path.write_bytes(data)
    return path


def test_hdf5_without_digitstruct(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 2))
    with pytest.raises(DigitStructError, match=r"other\.h5: no /digitStruct group"):
        read_digitstruct(path)
    with h5py.File(path, "a") as f:
        refs = np.array([[f["images"].ref]] * 2)
        f.create_group("digitStruct").create_dataset("name", data=refs, dtype=h5py.ref_dtype)
    with pytest.raises(DigitStructError, match="/digitStruct has no bbox dataset"):
        read_digitstruct(path)
    with h5py.File(path, "a") as f:
        f["digitStruct/bbox"] = np.zeros((2, 1))
    with pytest.raises(DigitStructError, match="/digitStruct/bbox is not an array of object references"):
        read_digitstruct(path)


@pytest.mark.parametrize("method", METHODS)
def test_truncated_file(tmp_path, method):
    whole = write_digitstruct(tmp_path / "whole.mat", MIXED)
    data = Path(whole).read_bytes()
    for length in (100, 600, len(data) // 2, len(data) - 8):
        path = _write(tmp_path / f"cut{length}.mat", data[:length])
        with pytest.raises(DigitStructError, match=f"cut{length}.mat: .*truncated"):
            read_digitstruct(path, method=method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("what, image", [("bbox", 1), ("name", 3)])
def test_dangling_reference(tmp_path, method, what, image):
    """A reference past the end of the file, patched into the file's bytes."""
    path = write_digitstruct(tmp_path / "dangling.mat", MIXED)
    with h5py.File(path, "r") as f:
        top = f[f"digitStruct/{what}"]
        header = 512 + h5py.h5o.get_info(top.id).addr
        target = h5py.h5o.get_info(f[top[image, 0]].id).addr
    data = bytearray(Path(path).read_bytes())
    position = data.index(target.to_bytes(8, "little"), header, header + 600)
    data[position : position + 8] = (len(data) + 4096).to_bytes(8, "little")
    Path(path).write_bytes(bytes(data))
    with pytest.raises(
        DigitStructError, match=rf"dangling\.mat: image {image}.*{what}: dangling object reference"
    ):
        read_digitstruct(path, method=method)


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("left", float("nan"), "left nan is not finite"),
        ("height", float("inf"), "height inf is not finite"),
        ("width", -3.0, "width -3.0 is negative"),
        ("label", 0.0, "label 0.0 is not a label 1..10"),
        ("label", 2.5, "label 2.5 is not a label 1..10"),
    ],
)
def test_bad_values(tmp_path, field, value, problem):
    records = [dict(r) for r in MIXED]
    records[2] = {**records[2], field: [records[2][field][0], value, records[2][field][2]]}
    path = write_digitstruct(tmp_path / "values.mat", records)
    for method in ("auto", "pure"):
        with pytest.raises(DigitStructError, match=rf"values\.mat: image 2 \('3.png'\): {problem}"):
            read_digitstruct(path, method=method)


def test_negative_left_and_top_are_kept(tmp_path):
    path = write_digitstruct(tmp_path / "outside.mat", [record("a.png", [1.0], [-4.0], [-2.0], [5.0], [9.0])])
    assert read_digitstruct(path)[0]["left"] == [-4.0]


@pytest.mark.parametrize("method", METHODS)
def test_wrong_shapes(tmp_path, method):
    base = Path(write_digitstruct(tmp_path / "base.mat", MIXED)).read_bytes()

    def retarget(f, references, index, data):
        references[index] = f["#refs#"].create_dataset(f"zz{index}", data=data).ref

    cases = [
        (
            lambda f, boxes, names: retarget(f, names, (0, 0), np.zeros((2, 3), np.uint16)),
            r"image 0: name: shape \(2, 3\) is not a vector",
        ),
        (
            lambda f, boxes, names: _replace(f[boxes[1, 0]], "top", np.zeros((2, 2))),
            r"image 1 \('2.png'\): top: shape \(2, 2\) is not a vector",
        ),
        (
            lambda f, boxes, names: retarget(f, f[boxes[0, 0]]["left"], (1, 0), np.zeros((1, 2))),
            r"image 0 \('1.png'\): left: a referenced value has shape \(1, 2\)",
        ),
        (
            lambda f, boxes, names: _replace(f[boxes[1, 0]], "top", np.zeros((3, 1))),
            r"image 1 \('2.png'\): the bbox fields hold different numbers of boxes",
        ),
    ]
    for number, (change, problem) in enumerate(cases):
        path = tmp_path / f"shape{number}.mat"
        path.write_bytes(base)
        with h5py.File(path, "r+") as f:
            change(f, f["digitStruct/bbox"], f["digitStruct/name"])
        with pytest.raises(DigitStructError, match=rf"shape{number}\.mat: {problem}"):
            read_digitstruct(path, method=method)
    path = tmp_path / "top.mat"
    path.write_bytes(base)
    with h5py.File(path, "r+") as f:
        refs = f["digitStruct/bbox"][()]
        del f["digitStruct/bbox"]
        f["digitStruct"].create_dataset("bbox", data=refs[:3], dtype=h5py.ref_dtype)
    with pytest.raises(DigitStructError, match="name has 4 entries but bbox has 3"):
        read_digitstruct(path, method=method)


def _replace(group, name, data):
    """Replaces a group member (found by name, not by reference) with new data."""
    del group[name]
    group.create_dataset(name, data=data)


def test_writer_rejects_what_matlab_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="no digit boxes"):
        write_digitstruct(tmp_path / "x.mat", [record("a.png", [], [], [], [], [])])
    with pytest.raises(ValueError, match="empty name"):
        write_digitstruct(tmp_path / "x.mat", [record("", [1.0], [1.0], [1.0], [1.0], [1.0])])
    with pytest.raises(ValueError, match="differ in length"):
        write_digitstruct(tmp_path / "x.mat", [record("a.png", [1.0, 2.0], [1.0], [1.0], [1.0], [1.0])])
    assert not any(p.name.startswith("x.mat") for p in tmp_path.iterdir())


def test_digitstruct_checks_its_columns():
    with pytest.raises(ValueError, match="offsets"):
        DigitStruct(["a"], *([np.zeros(1)] * 5), offsets=[0, 2])
    boxes = DigitStruct(["a", "b"], [1, 10], [0, 0], [0, 0], [1, 1], [1, 1], offsets=[0, 1, 2])
    assert boxes.numbers() == ["1", "0"] and repr(boxes) == "<DigitStruct: 2 images, 2 boxes>"


# ---- fuzz -----------------------------------------------------------------------

# Runs in fresh interpreters so that a crash shows as a crash. Every variant is
# read by each walk; every `oracle`-th also by h5py alone (one dereference per value).
FUZZ_WORKER = LIGHT_IMPORT + r"""
import hashlib, json
import numpy as np
source, scratch = sys.argv[2], sys.argv[6]
seed, count, oracle = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
from kerasvhn.data.digitstruct import DigitStructError, extension_available, read_digitstruct

methods = (["fast"] if extension_available() else []) + ["pure"]
data = open(source, "rb").read()
rng = np.random.default_rng(seed)
path = os.path.join(scratch, "variant.mat")

def outcome(method):
    try:
        boxes = read_digitstruct(path, method=method)
    except DigitStructError as error:
        return "error", str(error), None
    except Exception as error:
        return "unexpected", f"{type(error).__name__}: {error}", None
    digest = hashlib.sha1(json.dumps(list(boxes.records())).encode()).hexdigest()
    return "ok", digest, boxes.fallback.tolist()

for i in range(count):
    variant = bytearray(data)
    kind = ("truncate", "flip", "flip", "overwrite")[i % 4]
    if kind == "truncate":
        variant = variant[: int(rng.integers(0, len(data)))]
    elif kind == "flip":
        for _ in range(int(rng.integers(1, 4))):
            variant[int(rng.integers(512, len(data)))] ^= int(rng.integers(1, 256))
    else:
        at = int(rng.integers(512, len(data) - 8))
        variant[at : at + 8] = (b"\0" * 8, b"\xff" * 8, rng.bytes(8))[int(rng.integers(3))]
    with open(path, "wb") as handle:
        handle.write(variant)
    walks = [outcome(m) for m in methods]
    print(json.dumps([i, kind, walks, outcome("h5py") if i % oracle == 0 else None]), flush=True)
print("done", flush=True)
"""


def test_fuzz_truncated_and_flipped_files_never_crash(fixture_dir, tmp_path):
    """1,200 damaged variants of the fixture and of a generated file: each reads
    cleanly or raises DigitStructError, no interpreter crashes or hangs, the
    compiled and Python walks agree on every one (records, and which images they
    handed to h5py), and wherever h5py alone reads a variant the walks read the
    very same records (checked on a quarter of them)."""
    generated = write_digitstruct(
        tmp_path / "generated.mat", MIXED + [dict(r, name=f"x{r['name']}") for r in MIXED]
    )
    sources = [
        (fixture_dir / "digitStruct.mat", 1, 6),
        (fixture_dir / "digitStruct.mat", 2, 6),
        (generated, 3, 3),
        (generated, 4, 3),
    ]
    jobs = []
    for number, (source, seed, oracle) in enumerate(sources):
        scratch = tmp_path / f"worker{number}"
        scratch.mkdir()
        command = [
            sys.executable,
            "-c",
            FUZZ_WORKER,
            str(PACKAGE_ROOT),
            str(source),
            str(seed),
            "300",
            str(oracle),
            str(scratch),
        ]
        jobs.append((source, seed, command))
    outcomes, checked = [], 0
    for batch in (jobs[:2], jobs[2:]):  # two interpreters at a time (2 cores)
        running = [
            (job, subprocess.Popen(job[2], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for job in batch
        ]
        for (source, seed, _), process in running:
            try:
                stdout, stderr = process.communicate(timeout=150)
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
                pytest.fail(f"fuzz worker hung on {source} seed {seed} after: {stdout.splitlines()[-1:]}")
            lines = stdout.splitlines()
            assert process.returncode == 0, (
                f"fuzz worker crashed (exit {process.returncode}) on {source} seed {seed}, "
                f"last variant done: {lines[-1:]}\n{stderr[-2000:]}"
            )
            assert lines[-1] == "done"
            for line in lines[:-1]:
                index, kind, walks, reference = json.loads(line)
                where = (str(source), seed, index, kind)
                assert all(w[0] in ("ok", "error") for w in walks), (where, walks)
                assert all(w == walks[0] for w in walks), ("the walks disagree", where, walks)
                if reference is not None:
                    checked += 1
                    assert reference[0] in ("ok", "error"), (where, reference)
                    if reference[0] == "ok":
                        assert walks[0][:2] == reference[:2], (
                            "h5py reads other records",
                            where,
                            walks,
                            reference,
                        )
                outcomes.append(walks[0][0])
    assert len(outcomes) == 1200 and checked == 300
    assert {"ok", "error"} <= set(outcomes)  # the damage hits both harmless and fatal places


# ---- files that change while read, files that declare more than they hold --------

# argv[2]: the file; argv[3]: the method. Each scenario changes the file at one
# point of the read: while h5py has it open, before the walk reads its bytes
# (`_addresses` runs just before) or after (`_superblock_supported` runs just after,
# as it did right after mapping the file into memory).
CHANGE_WORKER = LIGHT_IMPORT + r"""
import json, shutil
from kerasvhn.data import digitstruct
from kerasvhn.data.digitstruct import DigitStructError, read_digitstruct

source, method = sys.argv[2], sys.argv[3]
digitstruct.IN_MEMORY_LIMIT = int(sys.argv[4])
path = source + ".copy"

def truncate():
    with open(path, "r+b") as handle:
        handle.truncate(4096)

def rewrite():
    with open(source + ".other", "wb") as handle:
        handle.write(open(source, "rb").read()[:-8] + b"\0" * 16)
    os.replace(source + ".other", path)

for hook in ("_addresses", "_superblock_supported"):
    for change in (truncate, rewrite):
        shutil.copyfile(source, path)
        original = getattr(digitstruct, hook)

        def hooked(*args, _original=original, _change=change):
            _change()
            return _original(*args)

        setattr(digitstruct, hook, hooked)
        try:
            read_digitstruct(path, method=method)
            outcome = "read"
        except DigitStructError as error:
            outcome = str(error)
        finally:
            setattr(digitstruct, hook, original)
        print(json.dumps([hook, change.__name__, outcome]), flush=True)
"""


@pytest.mark.parametrize("method", WALKS)
@pytest.mark.parametrize("copied", [False, True], ids=["in-memory", "private-copy"])
def test_file_changed_while_read_is_an_error_not_a_crash(tmp_path, method, copied):
    """Truncated under the reader (SIGBUS with a memory map) or replaced by
    another file: a DigitStructError saying so, in a process that lives on; with
    the file read into memory and with the private copy large files get."""
    path = write_digitstruct(tmp_path / "changing.mat", MIXED + [dict(r, name=f"x{r['name']}") for r in MIXED])
    limit = "0" if copied else str(digitstruct_module.IN_MEMORY_LIMIT)
    result = subprocess.run(
        [sys.executable, "-c", CHANGE_WORKER, str(PACKAGE_ROOT), str(path), method, limit],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"reader died (exit {result.returncode}): {result.stderr[-2000:]}"
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == 4
    for hook, change, message in outcomes:
        assert message.startswith(f"{path}.copy: changed while being read"), (hook, change, message)


def _chunked(group, name, shape, dtype="f8"):
    """A dataset declaring `shape` without storing it: chunked, no chunk written."""
    if name in group:
        del group[name]
    return group.create_dataset(name, shape=shape, chunks=(1024,) + (1,) * (len(shape) - 1), dtype=dtype)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("values", [2**20, 10**12])
def test_declared_sizes_beyond_the_file_allocate_nothing(tmp_path, method, values):
    """A file under 100 KB whose bbox field or whose top-level arrays declare a million
    or 10^12 values: a quick DigitStructError, next to no memory allocated."""
    import time
    import tracemalloc

    field = write_digitstruct(tmp_path / "field.mat", MIXED)
    with h5py.File(field, "r+") as f:
        _chunked(f[f["digitStruct/bbox"][1, 0]], "left", (values, 1))
    top = write_digitstruct(tmp_path / "top.mat", MIXED)
    with h5py.File(top, "r+") as f:
        for key in ("name", "bbox"):
            refs = f["digitStruct"][key][()]
            _chunked(f["digitStruct"], key, (values, 1), h5py.ref_dtype)[: len(refs)] = refs
    cases = [
        (field, r"image 1 \('2.png'\): left: shape \(\d+, 1\) declares more values than a file of \d+ bytes"),
        (top, rf"/digitStruct/name declares {values} references, more than a file of \d+ bytes holds"),
    ]
    for path, problem in cases:
        assert Path(path).stat().st_size < 100_000
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(DigitStructError, match=problem):
                read_digitstruct(path, method=method)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert time.monotonic() - started < 5
        assert peak < 2_000_000, f"{peak} bytes allocated reading {path}"


@pytest.mark.parametrize("method", METHODS)
def test_images_sharing_their_objects_cannot_claim_unbounded_memory(tmp_path, method):
    """3,000 images whose references all point to one 10-box image: a file of
    about 60 KB that would unpack into 30,000 boxes. No MATLAB file shares."""
    path = write_digitstruct(tmp_path / "shared.mat", [record("1.png", [1.0] * 10, *([[2.0] * 10] * 4))])
    with h5py.File(path, "r+") as f:
        for key in ("name", "bbox"):
            ref = f["digitStruct"][key][0, 0]
            del f["digitStruct"][key]
            f["digitStruct"].create_dataset(key, data=np.array([[ref]] * 3000), dtype=h5py.ref_dtype)
    size = Path(path).stat().st_size
    assert 30_000 * 8 > size
    with pytest.raises(DigitStructError, match=rf"declare \d+ boxes .* more than a file of {size} bytes holds"):
        read_digitstruct(path, method=method)


@pytest.mark.parametrize("method", WALKS)
def test_large_files_are_walked_from_a_private_copy_in_slices(tmp_path, monkeypatch, method):
    """Past IN_MEMORY_LIMIT the walk maps a private copy of the file, slice of
    images by slice: the same result, every image walked, no file left behind."""
    source = random_digitstruct(40, seed=5)
    path = write_digitstruct(tmp_path / "large.mat", source)
    expected = read_digitstruct(path, method=method)
    monkeypatch.setattr(digitstruct_module, "IN_MEMORY_LIMIT", 1000)
    monkeypatch.setattr(digitstruct_module, "_SLICE", 16)
    views, slices = [], []
    original_view, original_parallel = digitstruct_module._file_view, digitstruct_module._run_parallel

    @contextlib.contextmanager
    def view(*args):
        with original_view(*args) as buffer:
            views.append(type(buffer).__name__)
            yield buffer

    monkeypatch.setattr(digitstruct_module, "_file_view", view)
    monkeypatch.setattr(
        digitstruct_module,
        "_run_parallel",
        lambda task, start, stop, walk: slices.append((start, stop)) or original_parallel(task, start, stop, walk),
    )
    boxes = read_digitstruct(path, method=method)
    assert views == ["mmap"] and slices == [(0, 16), (16, 32), (32, 40)] * 2
    assert list(boxes.records()) == list(expected.records()) and len(boxes.fallback) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large.mat"]
