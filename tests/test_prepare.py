import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from kerasvhn import labels_to_numbers
from kerasvhn.data.digitstruct_writer import write_digitstruct
from kerasvhn.data.preparation import PrepareError, prepare, prepare_split
from kerasvhn.framing import crop_box

FIXTURE = Path(__file__).resolve().parent / "data" / "svhn-train-sample"


def record(name, number, left=10.0, top=5.0, width=8.0, height=20.0, gap=9.0):
    labels = [float(int(c) or 10) for c in number]
    return {
        "name": name,
        "label": labels,
        "left": [left + gap * i for i in range(len(number))],
        "top": [top] * len(number),
        "width": [width] * len(number),
        "height": [height] * len(number),
    }


def make_split(folder, entries, mode="RGB", size=(80, 40)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for entry in entries:
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).convert(mode).save(folder / entry["name"])
    write_digitstruct(folder / "digitStruct.mat", entries)
    return folder


def test_crop_box_is_the_papers():
    # Union 10..36 x 5..25, expanded by 15% of 26 (3.9) and of 20 (3) on each side.
    assert crop_box(record("1.png", "123"), 80, 40) == (6, 2, 40, 28)
    # Clipped to the image.
    assert crop_box(record("1.png", "1", left=0, top=0, width=80, height=40), 80, 40) == (0, 0, 80, 40)
    assert crop_box(record("1.png", "1", left=200, top=0), 80, 40) is None


def test_prepare_split_writes_the_cache(tmp_path):
    entries = [record(f"{i + 1}.png", n) for i, n in enumerate(["12", "7", "1234567", "905"])]
    src = make_split(tmp_path / "train", entries)
    summary = prepare_split(src, tmp_path / "out" / "train.h5", progress=False)
    assert summary.images == 4 and summary.more_than_max_digits == 1 and not summary.skipped
    with h5py.File(tmp_path / "out" / "train.h5") as f:
        assert f["images"].shape == (4, 64, 64, 3) and f["images"].dtype == np.uint8
        labels = {"length": f["length"][:], "digits": f["digits"][:]}
        assert labels_to_numbers(labels) == ["12", "7", "12345+", "905"]
        names = [n.decode() if isinstance(n, bytes) else n for n in f["names"][:]]
        assert names == ["1.png", "2.png", "3.png", "4.png"]
        # The first image is its crop, resized.
        source = Image.open(src / "1.png").convert("RGB")
        expected = np.asarray(source.crop(crop_box(entries[0], 80, 40)).resize((64, 64), Image.BILINEAR))
        np.testing.assert_array_equal(f["images"][0], expected)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["train.h5"]  # no temp files left
    again = prepare_split(src, tmp_path / "out" / "train.h5", progress=False)
    assert again.cached and again.images == 4


def test_both_workers_give_the_same_cache(tmp_path):
    entries = [record(f"{i + 1}.png", str(i)) for i in range(80)]
    src = make_split(tmp_path / "train", entries)
    prepare_split(src, tmp_path / "one.h5", workers=1, progress=False)
    prepare_split(src, tmp_path / "two.h5", workers=2, progress=False)
    with h5py.File(tmp_path / "one.h5") as a, h5py.File(tmp_path / "two.h5") as b:
        np.testing.assert_array_equal(a["images"][:], b["images"][:])
        np.testing.assert_array_equal(a["digits"][:], b["digits"][:])


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_other_image_modes_become_rgb(tmp_path, mode):
    src = make_split(tmp_path / "test", [record("1.png", "42")], mode=mode)
    summary = prepare_split(src, tmp_path / "test.h5", progress=False)
    assert summary.images == 1 and not summary.skipped


def test_bad_images_are_skipped_and_reported(tmp_path):
    entries = [record("1.png", "1"), record("2.png", "2"), record("3.png", "3", left=500), record("4.png", "4")]
    src = make_split(tmp_path / "train", entries)
    (src / "2.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (src / "4.png").unlink()
    summary = prepare_split(src, tmp_path / "train.h5", progress=False)
    assert summary.images == 1
    reasons = dict(summary.skipped)
    assert set(reasons) == {"2.png", "3.png", "4.png"}
    assert "unreadable" in reasons["2.png"] and "outside" in reasons["3.png"] and "not found" in reasons["4.png"]
    assert "3 skipped" in str(summary)


def test_prepare_finds_split_folders(tmp_path):
    make_split(tmp_path / "svhn" / "train", [record("1.png", "1")])
    make_split(tmp_path / "svhn" / "test", [record("1.png", "2")])
    summaries = prepare(tmp_path / "svhn", tmp_path / "cache", progress=False)
    assert sorted(s.split for s in summaries) == ["test", "train"]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["test.h5", "train.h5"]
    with pytest.raises(PrepareError, match="no split folders"):
        prepare(tmp_path / "cache", tmp_path / "x", progress=False)


def test_real_fixture(tmp_path):
    src = tmp_path / "train"
    shutil.copytree(FIXTURE, src)
    summary = prepare_split(src, tmp_path / "train.h5", progress=False)
    assert summary.images == 3 and len(summary.skipped) == 36  # only three images ship
    with h5py.File(tmp_path / "train.h5") as f:
        assert labels_to_numbers({"length": f["length"][:], "digits": f["digits"][:]}) == ["19", "23", "25"]


# ---- streaming and the cache's settings ------------------------------------------


def reference_split(src, entries, max_digits=5):
    """The split prepared the simplest way, all in memory: images, labels, names."""
    from kerasvhn import encode_numbers
    from kerasvhn.data.preparation import _prepare_one

    kept = [(entry, _prepare_one((str(src), entry))[0]) for entry in entries]
    kept = [(entry, image) for entry, image in kept if image is not None]
    images = np.stack([image for _, image in kept])
    labels = encode_numbers(["".join(str(int(x) % 10) for x in entry["label"]) for entry, _ in kept], max_digits)
    return images, labels, [entry["name"] for entry, _ in kept]


def test_streamed_chunks_equal_the_in_memory_result(tmp_path, monkeypatch):
    """Written 3 images at a time (one image skipped on the way), the file holds
    exactly what preparing everything in memory gives, and SplitBatches reads it."""
    from kerasvhn.data.batches import SplitBatches
    from kerasvhn.data.splits import SplitWriter, read_split

    entries = [record(f"{i + 1}.png", str(7 * i + 1)) for i in range(10)]
    entries[4] = record("5.png", "5", left=500)  # outside the image: skipped
    src = make_split(tmp_path / "train", entries)
    appended = []
    original = SplitWriter.append

    def append(self, images, *rest):
        appended.append(len(images))
        return original(self, images, *rest)

    monkeypatch.setattr(SplitWriter, "append", append)
    summary = prepare_split(src, tmp_path / "streamed.h5", workers=1, progress=False, chunk=3)
    assert appended == [3, 3, 3, 0] and summary.images == 9 and len(summary.skipped) == 1
    images, labels = read_split(tmp_path / "streamed.h5")
    expected_images, expected_labels, expected_names = reference_split(src, entries)
    np.testing.assert_array_equal(images, expected_images)
    for key in ("length", "digits"):
        np.testing.assert_array_equal(labels[key], expected_labels[key])
    assert SplitBatches(tmp_path / "streamed.h5", training=False).names == expected_names
    appended.clear()
    prepare_split(src, tmp_path / "whole.h5", workers=1, progress=False, chunk=1000)
    assert appended == [9]  # one chunk: the whole split at once
    with h5py.File(tmp_path / "streamed.h5") as a, h5py.File(tmp_path / "whole.h5") as b:
        for key in ("images", "length", "digits", "names"):
            np.testing.assert_array_equal(a[key][()], b[key][()])


def test_cache_is_reused_only_with_the_same_settings(tmp_path, monkeypatch):
    from kerasvhn.data import preparation as prepare_module

    entries = [record(f"{i + 1}.png", n) for i, n in enumerate(["12", "7", "123456", "905"])]
    src = make_split(tmp_path / "train", entries)
    out = tmp_path / "out" / "train.h5"

    def run(folder=src, **kwargs):
        return prepare_split(folder, out, workers=1, progress=False, **kwargs)

    first = run()
    assert not first.cached and first.rebuilt is None
    assert run().cached and "cached (same settings)" in str(run())
    changed = run(max_digits=4)
    assert not changed.cached and changed.rebuilt == "max_digits: 5 -> 4"
    assert "rebuilt: max_digits: 5 -> 4" in str(changed)
    with h5py.File(out) as f:
        assert f["digits"].shape == (4, 4) and json.loads(f.attrs["settings"])["max_digits"] == 4
    assert run(max_digits=4).cached
    assert run().rebuilt == "max_digits: 4 -> 5"

    mat = src / "digitStruct.mat"
    stat = mat.stat()
    os.utime(mat, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched
    assert run().rebuilt == f"digitstruct_mtime_ns: {stat.st_mtime_ns} -> {stat.st_mtime_ns + 10**9}"
    write_digitstruct(mat, entries[:3])  # rewritten: another image count
    again = run()
    assert again.rebuilt.startswith("digitstruct_size: ") and again.images == 3
    copy = shutil.copytree(src, tmp_path / "elsewhere" / "train")  # same files, another folder
    assert run(copy).rebuilt == f"source: {str(src)!r} -> {str(copy)!r}"

    monkeypatch.setattr(prepare_module, "EXPAND", 0.2)
    assert run(copy).rebuilt == "expansion: 0.3 -> 0.2"
    monkeypatch.setattr(prepare_module, "_version", lambda: "9.9")
    assert run(copy).rebuilt.startswith("version: ") and run(copy).cached


def test_old_or_broken_caches_are_rebuilt_atomically(tmp_path, monkeypatch):
    from kerasvhn import encode_numbers
    from kerasvhn.data import preparation as prepare_module
    from kerasvhn.data.splits import write_split

    src = make_split(tmp_path / "train", [record(f"{i + 1}.png", str(i + 1)) for i in range(6)])
    out = tmp_path / "train.h5"
    write_split(out, np.zeros((1, 64, 64, 3), np.uint8), encode_numbers(["1"]), ["old.png"])
    summary = prepare_split(src, out, workers=1, progress=False)
    assert summary.rebuilt == "no recorded settings" and summary.images == 6
    out.write_bytes(b"not an HDF5 file")
    assert prepare_split(src, out, workers=1, progress=False).rebuilt.startswith("unreadable")

    # A rebuild that fails half-way leaves the previous file as it was, and no
    # temporary file.
    before = out.read_bytes()
    calls = []

    def failing(task):
        calls.append(task)
        if len(calls) == 4:
            raise RuntimeError("disk on fire")
        return original(task)

    original = prepare_module._prepare_one
    monkeypatch.setattr(prepare_module, "_prepare_one", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        prepare_split(src, out, max_digits=3, workers=1, progress=False, chunk=2)
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["train", "train.h5"]
