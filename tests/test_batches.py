"""SplitBatches and write_split: crops, epochs, label alignment, files, model.fit."""

import pickle

import h5py
import numpy as np
import pytest

import kerasvhn
from kerasvhn import encode_numbers, labels_to_numbers
from kerasvhn.data.batches import SplitBatches
from kerasvhn.data.splits import SplitWriter, read_split, write_split

COUNT = 75  # 2 full batches of 32 and a partial one of 11
SIZE = 64
CROP = 54


def make_split(count=COUNT, seed=1):
    """Random images whose channel 1 is constant and holds the image's index, so a
    crop tells which image it came from; the label of image i is the number i."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, SIZE, SIZE, 3), dtype=np.uint8)
    images[..., 1] = np.arange(count, dtype=np.uint8)[:, None, None]
    numbers = [str(i) for i in range(count)]
    return images, encode_numbers(numbers), [f"train/{i + 1}.png" for i in range(count)]


def source_index(x):
    """The image index encoded in a float crop's channel 1."""
    values = np.rint(x[..., 1] * 255).astype(int)
    assert (values == values.flat[0]).all()
    return int(values.flat[0])


def crop_offset(crop, image):
    """The (top, left) of the 54x54 window of `image` equal to `crop`, or None."""
    crop = np.rint(crop * 255).astype(np.uint8)
    for top in range(image.shape[0] - CROP + 1):
        for left in range(image.shape[1] - CROP + 1):
            if np.array_equal(image[top : top + CROP, left : left + CROP], crop):
                return top, left
    return None


def epoch_batches(batches):
    out = [batches[i] for i in range(len(batches))]
    batches.on_epoch_end()
    return out


@pytest.fixture(scope="module")
def split():
    return make_split()


@pytest.fixture
def split_file(split, tmp_path):
    return write_split(tmp_path / "train.h5", *split)


def test_shapes_dtypes_and_range(split):
    for training in (True, False):
        batches = SplitBatches(split[:2], batch_size=32, training=training)
        assert len(batches) == 3 and batches.max_digits == 5
        sizes = []
        for index in range(len(batches)):
            x, y = batches[index]
            assert x.dtype == np.float32 and x.shape[1:] == (CROP, CROP, 3)
            assert 0.0 <= x.min() and x.max() <= 1.0
            assert set(y) == {"length", "digits"}
            assert y["length"].dtype == np.int32 and y["length"].shape == (x.shape[0],)
            assert y["digits"].dtype == np.int32 and y["digits"].shape == (x.shape[0], 5)
            sizes.append(x.shape[0])
        assert sizes == [32, 32, 11]  # the last partial batch is included
        assert batches[-1][0].shape[0] == 11
        with pytest.raises(IndexError):
            batches[3]


def test_crops_are_real_windows_and_labels_stay_aligned(split):
    images = split[0]
    for training in (True, False):
        batches = SplitBatches(split[:2], batch_size=32, training=training, seed=3)
        for _ in range(2):
            for x, y in epoch_batches(batches):
                indices = [source_index(crop) for crop in x]
                assert labels_to_numbers(y) == [str(i) for i in indices]
                for crop, index in zip(x, indices):
                    offset = crop_offset(crop, images[index])
                    assert offset is not None
                    if not training:
                        assert offset == (5, 5)  # centred


def test_training_crops_vary_and_evaluation_crops_do_not(split):
    images = split[0]
    offsets = {}
    batches = SplitBatches(split[:2], batch_size=COUNT, training=True, seed=0)
    for epoch in range(2):
        (x, _), = epoch_batches(batches)
        for crop in x:
            index = source_index(crop)
            offsets.setdefault(index, []).append(crop_offset(crop, images[index]))
    first = [found[0] for found in offsets.values()]
    assert len(set(first)) > 20  # offsets differ between images...
    assert sum(a != b for a, b in offsets.values()) > COUNT // 2  # ...and between epochs
    assert {o for found in offsets.values() for o in found} <= {(t, l) for t in range(11) for l in range(11)}

    evaluation = SplitBatches(split[:2], batch_size=COUNT, training=False)
    first_epoch = epoch_batches(evaluation)[0][0]
    np.testing.assert_array_equal(first_epoch, epoch_batches(evaluation)[0][0])
    np.testing.assert_array_equal(first_epoch, images[:, 5:59, 5:59].astype(np.float32) / 255)


def test_epoch_order_is_deterministic_per_seed_and_changes_between_epochs(split):
    def orders(seed, epochs=3):
        batches = SplitBatches(split[:2], batch_size=32, seed=seed)
        return [np.concatenate([[source_index(c) for c in x] for x, _ in epoch_batches(batches)]) for _ in range(epochs)]

    first, again, other = orders(0), orders(0), orders(1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    assert not np.array_equal(first[0], other[0])
    for order in first + other:  # every image exactly once per epoch
        assert sorted(order) == list(range(COUNT))
    # Same seed and epoch: the very same pixels, whatever order batches are asked in.
    a, b = SplitBatches(split[:2], batch_size=32, seed=0), SplitBatches(split[:2], batch_size=32, seed=0)
    a.set_epoch(4), b.set_epoch(4)
    for index in (2, 0, 1):
        np.testing.assert_array_equal(a[index][0], b[index][0])


def test_evaluation_keeps_the_file_order(split):
    batches = SplitBatches(split[:2], batch_size=32, training=False)
    for _ in range(2):
        order = [source_index(c) for x, _ in epoch_batches(batches) for c in x]
        assert order == list(range(COUNT))


@pytest.mark.parametrize("in_memory", [True, False])
def test_file_matches_arrays(split, split_file, in_memory):
    from_file = SplitBatches(split_file, batch_size=32, in_memory=in_memory, seed=5)
    from_arrays = SplitBatches(split[:2], batch_size=32, seed=5)
    assert (from_file._images is not None) == in_memory
    for _ in range(2):
        for (x1, y1), (x2, y2) in zip(epoch_batches(from_file), epoch_batches(from_arrays)):
            np.testing.assert_array_equal(x1, x2)
            np.testing.assert_array_equal(y1["length"], y2["length"])
            np.testing.assert_array_equal(y1["digits"], y2["digits"])
    assert from_file.names == split[2]
    evaluation = SplitBatches(split_file, batch_size=32, training=False, in_memory=in_memory)
    np.testing.assert_array_equal(evaluation[1][0], split[0][32:64, 5:59, 5:59] / np.float32(255))
    from_file.close()


def test_pickled_dataset_reads_from_the_file(split_file):
    """What a multiprocessing worker gets: no handle, no in-memory copy of a file's images."""
    batches = SplitBatches(split_file, batch_size=32, seed=2)
    batches.set_epoch(1)
    expected = batches[1]
    clone = pickle.loads(pickle.dumps(batches))
    assert clone._images is None and clone._file is None
    np.testing.assert_array_equal(clone[1][0], expected[0])
    np.testing.assert_array_equal(clone[1][1]["digits"], expected[1]["digits"])
    clone.close()


def test_write_split_is_atomic_and_replaces(split, tmp_path):
    images, labels, names = split
    path = write_split(tmp_path / "s.h5", images, labels, names, attrs={"source": "test"})
    with h5py.File(path, "r") as f:
        assert f["images"].dtype == np.uint8 and f["images"].shape == images.shape
        assert list(f["names"].asstr()[()]) == names
        assert f.attrs["max_digits"] == 5 and f.attrs["source"] == "test"
    write_split(path, images[:10], {k: v[:10] for k, v in labels.items()}, names[:10], compression="gzip")
    assert SplitBatches(path, training=False).num_images == 10
    with pytest.raises(ValueError, match="uint8"):
        write_split(tmp_path / "bad.h5", images.astype(np.float32), labels, names)
    with pytest.raises(ValueError, match="names"):
        write_split(tmp_path / "bad.h5", images, labels, names[:-1])
    with pytest.raises(TypeError):  # fails while writing: the temporary file is removed
        write_split(tmp_path / "bad.h5", images, labels, names, attrs={"x": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]  # no temporary files left


def test_split_writer_streams_the_same_file_in_pieces(split, tmp_path):
    """Appended in uneven pieces (an empty one too), the file reads exactly as
    write_split's; a failure inside the block leaves nothing behind."""
    images, labels, names = split
    with SplitWriter(tmp_path / "pieces.h5", max_digits=5, attrs={"source": "test"}) as writer:
        for start, stop in ((0, 7), (7, 7), (7, 40), (40, COUNT)):
            writer.append(images[start:stop], {k: v[start:stop] for k, v in labels.items()}, names[start:stop])
        assert not (tmp_path / "pieces.h5").exists()  # only once complete
    assert writer.count == COUNT
    whole = write_split(tmp_path / "whole.h5", images, labels, names)
    for path in (tmp_path / "pieces.h5", whole):
        got_images, got_labels = read_split(path)
        np.testing.assert_array_equal(got_images, images)
        np.testing.assert_array_equal(got_labels["digits"], labels["digits"])
        assert SplitBatches(path, training=False).names == names
    with h5py.File(tmp_path / "pieces.h5") as f:
        assert f["images"].chunks == (1, 64, 64, 3) and f.attrs["source"] == "test"
    from_file = SplitBatches(tmp_path / "pieces.h5", batch_size=32, in_memory=False, seed=3)
    from_arrays = SplitBatches((images, labels), batch_size=32, seed=3)
    for index in range(len(from_file)):
        np.testing.assert_array_equal(from_file[index][0], from_arrays[index][0])
    from_file.close()
    with pytest.raises(ValueError, match="digit positions"):
        with SplitWriter(tmp_path / "bad.h5", max_digits=4) as writer:
            writer.append(images[:2], {k: v[:2] for k, v in labels.items()}, names[:2])
    with pytest.raises(ValueError, match="3 images written to a split of 2"):
        with SplitWriter(tmp_path / "bad.h5", max_digits=5, count=2) as writer:
            writer.append(images[:3], {k: v[:3] for k, v in labels.items()}, names[:3])
    with pytest.raises(ValueError, match="1 images written to a split of 2"):
        with SplitWriter(tmp_path / "bad.h5", max_digits=5, count=2) as writer:
            writer.append(images[:1], {k: v[:1] for k, v in labels.items()}, names[:1])
    with pytest.raises(RuntimeError, match="outside"):
        writer.append(images[:1], {k: v[:1] for k, v in labels.items()}, names[:1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pieces.h5", "whole.h5"]


def test_model_fit_runs():
    images, labels, _ = make_split(count=32)  # two batches of 16: one compiled shape
    model = kerasvhn.MultiDigitNet("small")
    model.compile(optimizer="adam", metrics=[])  # metrics add compile time, not coverage
    batches = SplitBatches((images, labels), batch_size=16)
    history = model.fit(batches, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # on_epoch_end moved to a new order (Keras also calls it once before training).
    assert batches.epoch >= 1
    loss = model.evaluate(SplitBatches((images, labels), batch_size=16, training=False), verbose=0)
    assert np.isfinite(loss)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        SplitBatches(tmp_path / "nope.h5")


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"definitely not hdf5")
    with pytest.raises(ValueError, match="junk.h5 is not a readable HDF5 file"):
        SplitBatches(path)


@pytest.mark.parametrize("missing", ["images", "length", "digits"])
def test_missing_dataset_is_named(split, tmp_path, missing):
    path = write_split(tmp_path / "partial.h5", *split)
    with h5py.File(path, "a") as f:
        del f[missing]
    with pytest.raises(ValueError, match=f"partial.h5 has no dataset '{missing}'"):
        SplitBatches(path)


def test_bad_contents(split, tmp_path):
    path = tmp_path / "wrong.h5"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((4, 64, 64), np.uint8)
        f["length"] = np.zeros(4, np.int32)
        f["digits"] = np.zeros((4, 5), np.int32)
    with pytest.raises(ValueError, match="wrong.h5: dataset 'images' must be uint8"):
        SplitBatches(path)
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((4, 64, 64, 3), np.uint8)
        f["length"] = np.zeros(3, np.int32)
        f["digits"] = np.zeros((4, 5), np.int32)
    with pytest.raises(ValueError, match="wrong.h5"):
        SplitBatches(path)
    with pytest.raises(ValueError, match="crop"):
        SplitBatches(split[:2], crop=65)
    with pytest.raises(ValueError, match="length must be in 0..6"):
        SplitBatches((split[0], {"length": np.full(COUNT, 7), "digits": split[1]["digits"]}))
    with pytest.raises(TypeError, match="source"):
        SplitBatches(split[0])
