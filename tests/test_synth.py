"""kerasvhn.data.synth: framed images, street scenes with per-digit boxes, the format-1
folder writer, fonts and held-out splits."""

import os

import h5py
import numpy as np
import pytest
from PIL import Image

from kerasvhn import encode_numbers, labels_to_numbers
from kerasvhn.data import fonts, glyphs, read_digitstruct, render_numbers, synth, synthesize, textures
from kerasvhn.data.prepare import number_of, prepare


@pytest.fixture(scope="module")
def sample():
    """400 framed images of seed 0 (a couple of seconds to render)."""
    return render_numbers(400, seed=0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A format-1 folder of 40 scenes written by `synthesize` (one process)."""
    out = tmp_path_factory.mktemp("synth") / "train"
    records = synthesize(out, 40, seed=5, workers=1, progress=False)
    return out, records


def test_shapes_and_dtypes(sample):
    images, labels = sample
    assert images.shape == (400, 64, 64, 3) and images.dtype == np.uint8
    assert set(labels) == {"length", "digits"}
    assert labels["length"].shape == (400,) and labels["length"].dtype == np.int32
    assert labels["digits"].shape == (400, 5) and labels["digits"].dtype == np.int32


def test_same_seed_same_images_and_prefixes_agree(sample):
    images, labels = render_numbers(30, seed=0)
    np.testing.assert_array_equal(images, sample[0][:30])
    np.testing.assert_array_equal(labels["length"], sample[1]["length"][:30])
    np.testing.assert_array_equal(labels["digits"], sample[1]["digits"][:30])


def test_two_workers_give_the_same_images():
    one = render_numbers(300, seed=9, workers=1)
    two = render_numbers(300, seed=9, workers=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1]["digits"], two[1]["digits"])


def test_other_seeds_other_images(sample):
    images, labels = render_numbers(30, seed=1)
    differences = np.abs(images[:, None].astype(int) - sample[0][None, :30].astype(int)).mean(axis=(2, 3, 4))
    assert differences.min() > 2
    assert labels_to_numbers(labels) != labels_to_numbers({k: v[:30] for k, v in sample[1].items()})


def test_images_vary(sample):
    images = sample[0].astype(np.float32)
    assert images.std(axis=(1, 2, 3)).min() > 1
    assert images.min() < 30 and images.max() > 225
    assert images.mean(axis=(1, 2)).std(axis=0).min() > 20


def test_length_distribution_has_none_and_more(sample):
    length = sample[1]["length"]
    counts = np.bincount(length, minlength=7)
    p = synth._probabilities(5)
    expected = p * length.size
    sigma = np.sqrt(expected * (1 - p))
    assert np.all(np.abs(counts - expected) < 5 * sigma + 1), (counts, expected)
    assert counts[0] > 0, "some images have no number"
    assert counts[1:4].sum() > 0.6 * length.size, "mostly 1 to 3 digits"
    more = render_numbers(600, seed=11)[1]["length"]
    assert (more == 6).any(), "some numbers are longer than 5 digits (the 'more' class)"


def test_labels_are_valid_and_padded(sample):
    length, digits = sample[1]["length"], sample[1]["digits"]
    positions = np.arange(5)[None, :]
    assert np.all(digits[positions >= np.minimum(length, 5)[:, None]] == 0)
    numbers = labels_to_numbers(sample[1])
    again = encode_numbers(numbers)
    np.testing.assert_array_equal(again["digits"], digits)
    for position in range(3):
        assert set(digits[length > position, position]) == set(range(10))


def test_labels_match_the_drawn_number(monkeypatch):
    """The first string laid out for each image is its number (clutter comes after);
    an image without a number draws letters or nothing first."""
    first = {}
    compose, layout = synth._compose, synth._layout
    current = {}

    def spy_compose(rng, *args):
        current["index"] = len(current.get("seen", []))
        current.setdefault("seen", []).append(True)
        return compose(rng, *args)

    def spy_layout(rng, glyphs, text):
        first.setdefault(current["index"], text)
        return layout(rng, glyphs, text)

    monkeypatch.setattr(synth, "_compose", spy_compose)
    monkeypatch.setattr(synth, "_layout", spy_layout)
    images, labels = render_numbers(80, seed=4)
    for index, number in enumerate(labels_to_numbers(labels)):
        drawn = first.get(index, "")
        if number:
            assert drawn == number.rstrip("+") or (number.endswith("+") and drawn.startswith(number[:-1]))
        else:
            assert not any(c.isdigit() for c in drawn)
    monkeypatch.setattr(synth, "_compose", compose)
    monkeypatch.setattr(synth, "_layout", layout)
    np.testing.assert_array_equal(render_numbers(80, seed=4)[0], images)


def test_boxes_are_tight_around_each_character():
    """Per-character boxes after stroke changes, condensing, shear, rotation and
    perspective: each contains its character's ink and together they cover all of it."""
    face = glyphs.faces("train")[0][0]
    for seed in range(40):
        rng = np.random.default_rng(seed)
        ink, owner = glyphs.layout(rng, face, "4071")
        ink_image, owner = glyphs.warp(rng, ink, owner)
        boxes = glyphs.char_boxes(ink_image, owner, 4)
        solid = np.asarray(ink_image) > 64
        covered = np.zeros_like(solid)
        for k, (x0, y0, x1, y1) in enumerate(boxes, start=1):
            x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
            covered[y0:y1, x0:x1] = True
            mine = solid & (owner == k)
            ys, xs = np.nonzero(mine)
            assert xs.min() == x0 and xs.max() + 1 == x1 and ys.min() == y0 and ys.max() + 1 == y1
        assert covered[solid].mean() > 0.99
        centres = [(b[0] + b[2]) / 2 for b in boxes]
        assert centres == sorted(centres), "characters stay in reading order"


def test_scenes_have_boxes_inside_the_image():
    for index in range(30):
        image, number, boxes = synth.render_scene(index, seed=2)
        height, width = image.shape[:2]
        assert 1 <= len(number) <= 6 and len(boxes) == len(number)
        for left, top, w, h in boxes:
            assert -1 <= left and left + w <= width + 1 and -1 <= top and top + h <= height + 1
            assert w >= 1 and h >= 4


def test_folder_is_svhn_format_1(folder):
    out, records = folder
    assert sorted(os.listdir(out)) == sorted(["digitStruct.mat"] + [f"{i}.png" for i in range(1, 41)])
    parsed = list(read_digitstruct(out / "digitStruct.mat").records())
    assert [r["name"] for r in parsed] == [f"{i}.png" for i in range(1, 41)]
    for record, written in zip(parsed, records):
        for key in ("label", "left", "top", "width", "height"):
            assert list(record[key]) == written[key]
        assert all(1 <= label <= 10 for label in record["label"])
        with Image.open(out / record["name"]) as image:
            assert image.format == "PNG" and image.mode == "RGB"
            for left, width in zip(record["left"], record["width"]):
                assert -1 <= left and left + width <= image.width + 1


def test_parser_h5py_and_mat73_agree_on_generated_files(folder):
    import mat73

    out, records = folder
    path = str(out / "digitStruct.mat")
    ours = [dict(r) for r in read_digitstruct(path, method="pure").records()]
    fast = [dict(r) for r in read_digitstruct(path).records()]
    reference = [dict(r) for r in read_digitstruct(path, method="h5py").records()]
    assert ours == fast == reference
    with h5py.File(path, "r") as f:  # plain h5py, by hand
        names = f["digitStruct/name"]
        bbox = f["digitStruct/bbox"]
        for i, record in enumerate(ours):
            name = "".join(chr(c) for c in f[names[i, 0]][:, 0])
            assert name == record["name"]
            box = f[bbox[i, 0]]
            for key in ("label", "left", "top", "width", "height"):
                field = box[key]
                values = [f[ref][0, 0] for ref in field[:, 0]] if field.dtype == h5py.ref_dtype else [field[0, 0]]
                assert values == list(record[key])
    loaded = mat73.loadmat(path)["digitStruct"]
    for i, record in enumerate(ours):
        assert loaded["name"][i] == record["name"]
        box = loaded["bbox"][i]
        for key in ("label", "left", "top", "width", "height"):
            assert np.atleast_1d(np.asarray(box[key], np.float64).ravel()).tolist() == list(record[key])


def test_prepare_reads_a_generated_folder(folder, tmp_path):
    out, records = folder
    summaries = prepare(out.parent, tmp_path / "prepared", splits=("train",), workers=1, progress=False)
    assert summaries[0].images == 40 and not summaries[0].skipped
    with h5py.File(tmp_path / "prepared" / "train.h5", "r") as f:
        numbers = labels_to_numbers({"length": f["length"][()], "digits": f["digits"][()]})
    assert numbers == [number_of(r) if len(number_of(r)) <= 5 else number_of(r)[:5] + "+" for r in records]


def test_same_seed_same_files(folder, tmp_path):
    out, records = folder
    again = synthesize(tmp_path / "again", 5, seed=5, workers=1, progress=False)
    assert again == records[:5]
    for i in range(1, 6):
        with Image.open(out / f"{i}.png") as a, Image.open(tmp_path / "again" / f"{i}.png") as b:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_at_least_ten_font_families_and_disjoint_held_out_splits():
    everything = fonts.font_families("all")
    assert len(everything) >= 10
    train, held = fonts.font_families("train"), fonts.font_families("held_out")
    assert not set(train) & set(held) and set(train) | set(held) == set(everything)
    assert sorted(held) == sorted(fonts.HELD_OUT_FAMILIES)
    for split in ("train", "held_out"):
        for tables in glyphs.faces(split):
            for table in tables:
                masks = [table[str(d)].mask for d in range(10)]
                assert all(mask.max() > 200 for mask in masks)
                assert len({mask.tobytes() for mask in masks}) == 10
    train_photos = textures._photos("train")
    held_photos = textures._photos("held_out")
    assert len(train_photos) >= 5 and len(held_photos) >= 2
    train_bytes = {p.tobytes()[:4096] for p in train_photos}
    assert not any(p.tobytes()[:4096] in train_bytes for p in held_photos)


def test_held_out_split_draws_other_images():
    train = render_numbers(20, seed=3, split="train")
    held = render_numbers(20, seed=3, split="held_out")
    assert not np.array_equal(train[0], held[0])


def test_zero_images():
    images, labels = render_numbers(0)
    assert images.shape == (0, 64, 64, 3) and labels["length"].shape == (0,)


def test_max_digits_and_size():
    images, labels = render_numbers(50, seed=2, max_digits=3, size=32)
    assert images.shape == (50, 32, 32, 3)
    assert labels["digits"].shape == (50, 3)
    assert labels["length"].max() <= 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": -1},
        {"count": 2.5},
        {"count": 3, "seed": -1},
        {"count": 3, "seed": "a"},
        {"count": 3, "max_digits": 0},
        {"count": 3, "size": 8},
        {"count": 3, "workers": 0},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="must be"):
        render_numbers(**kwargs)


def test_bad_split():
    with pytest.raises(ValueError, match="split must be one of"):
        render_numbers(3, split="test")
    with pytest.raises(ValueError, match="must be an int >= 1"):
        synthesize("/tmp/unused-folder", 0)


def test_length_mixes_are_distributions():
    for name, mix in synth.LENGTH_MIXES.items():
        assert len(mix) == 7 and sum(mix) == pytest.approx(1.0), name
        assert min(mix) > 0, f"{name}: every length occurs"
    svhn = synth.LENGTH_MIXES["svhn"]
    assert int(np.argmax(svhn)) == 2 and svhn[4] < 0.05 and svhn[5] + svhn[6] < 0.001


def test_svhn_length_mix_is_drawn():
    length = render_numbers(400, seed=3, lengths="svhn")[1]["length"]
    counts = np.bincount(length, minlength=7)
    p = synth._probabilities(5, "svhn")
    expected = p * length.size
    sigma = np.sqrt(expected * (1 - p))
    assert np.all(np.abs(counts - expected) < 5 * sigma + 1), (counts, expected)
    scenes = [len(synth.render_scene(i, seed=3, lengths="svhn")[1]) for i in range(60)]
    assert max(scenes) <= 4 and scenes.count(2) > 20


def test_photo_framing_is_looser():
    rng = np.random.default_rng(0)
    box = (100.0, 50.0, 160.0, 130.0)  # 60 wide, 80 high

    def views(photo_share):
        out = np.array([synth._framing(rng, box, "frame", photo_share) for _ in range(500)])
        return (out[:, 2] - out[:, 0]) / 60, (out[:, 3] - out[:, 1]) / 80

    widths, heights = views(1.0)
    assert widths.min() >= 1.8 and widths.max() <= 5.0 and heights.min() >= 1.4 and heights.max() <= 3.4
    crop_widths, _ = views(0.0)
    assert crop_widths.max() <= 3.0 and np.median(crop_widths) < 1.5
    mixed, _ = views(0.15)
    assert 0.05 < (mixed > 3.0).mean() < 0.25


def test_photo_share_changes_framing_not_labels():
    crops, crop_labels = render_numbers(30, seed=4, photo_share=0.0)
    photos, photo_labels = render_numbers(30, seed=4, photo_share=1.0)
    np.testing.assert_array_equal(crop_labels["digits"], photo_labels["digits"])
    assert np.abs(crops.astype(int) - photos.astype(int)).mean() > 10


@pytest.mark.parametrize("kwargs, message", [
    ({"lengths": "real"}, "lengths must be one of"),
    ({"photo_share": 1.5}, "photo_share must be between 0 and 1"),
    ({"photo_share": -0.1}, "photo_share must be between 0 and 1"),
])
def test_bad_mix_or_share(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_numbers(3, **kwargs)
    if "lengths" in kwargs:
        with pytest.raises(ValueError, match=message):
            synthesize("/tmp/unused-folder", 1, lengths=kwargs["lengths"])
