"""kerasvhn.data.synth: framed images, street scenes with per-digit boxes, the format-1
folder writer, fonts and held-out splits."""

import os

import h5py
import numpy as np
import pytest
from PIL import Image

from kerasvhn import encode_numbers, labels_to_numbers
from kerasvhn.data import fonts, glyphs, read_digitstruct, render_numbers, synth, synthesize, textures
from kerasvhn.data.preparation import prepare


@pytest.fixture(scope="module")
def sample():
    """400 framed images of seed 0 (a couple of seconds to render)."""
    return render_numbers(400, seed=0, purpose="train")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A format-1 folder of 40 scenes written by `synthesize` (one process)."""
    out = tmp_path_factory.mktemp("synth") / "train"
    records = synthesize(out, 40, seed=5, workers=1, progress=False, purpose="train")
    return out, records


def test_shapes_and_dtypes(sample):
    images, labels = sample
    assert images.shape == (400, 64, 64, 3) and images.dtype == np.uint8
    assert set(labels) == {"length", "digits"}
    assert labels["length"].shape == (400,) and labels["length"].dtype == np.int32
    assert labels["digits"].shape == (400, 5) and labels["digits"].dtype == np.int32


def test_same_seed_same_images_and_prefixes_agree(sample):
    images, labels = render_numbers(30, seed=0, purpose="train")
    np.testing.assert_array_equal(images, sample[0][:30])
    np.testing.assert_array_equal(labels["length"], sample[1]["length"][:30])
    np.testing.assert_array_equal(labels["digits"], sample[1]["digits"][:30])


def test_two_workers_give_the_same_images():
    one = render_numbers(300, seed=9, workers=1, purpose="train")
    two = render_numbers(300, seed=9, workers=2, purpose="train")
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1]["digits"], two[1]["digits"])


def test_other_seeds_other_images(sample):
    images, labels = render_numbers(30, seed=1, purpose="train")
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
    more = render_numbers(600, seed=11, purpose="train")[1]["length"]
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

    def spy_layout(rng, glyphs, text, **options):
        first.setdefault(current["index"], text)
        return layout(rng, glyphs, text, **options)

    monkeypatch.setattr(synth, "_compose", spy_compose)
    monkeypatch.setattr(synth, "_layout", spy_layout)
    images, labels = render_numbers(80, seed=4, purpose="train")
    for index, number in enumerate(labels_to_numbers(labels)):
        drawn = first.get(index, "")
        if number:
            assert drawn == number.rstrip("+") or (number.endswith("+") and drawn.startswith(number[:-1]))
        else:
            assert not any(c.isdigit() for c in drawn)
    monkeypatch.setattr(synth, "_compose", compose)
    monkeypatch.setattr(synth, "_layout", layout)
    np.testing.assert_array_equal(render_numbers(80, seed=4, purpose="train")[0], images)


@pytest.mark.parametrize("options, stencil", [
    ({}, False),
    ({"tracking": 1.8}, False),  # mounted digits, spaced apart
    ({"tabular": True, "tracking": 1.4}, False),  # fixed-pitch figures, spread apart
    ({"vertical": True}, False),  # stacked top to bottom
    ({}, True),  # stencil bridges cut into the strokes
])
def test_boxes_are_tight_around_each_character(options, stencil):
    """Per-character boxes after stroke changes, condensing, shear, rotation and
    perspective: each contains its character's ink and together they cover all of it,
    in reading order (left to right, or top to bottom for a vertical number)."""
    face = glyphs.faces("train")[0][0]
    for seed in range(40):
        rng = np.random.default_rng(seed)
        ink, owner = glyphs.layout(rng, face, "4071", **options)
        if stencil:
            ink = glyphs.stencil_gaps(rng, ink)
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
        axis = 1 if options.get("vertical") else 0
        centres = [(b[axis] + b[axis + 2]) / 2 for b in boxes]
        assert centres == sorted(centres), "characters stay in reading order"


def test_tabular_figures_stand_each_digit_in_a_cell_of_one_width():
    """Fixed-pitch layout: the centres of consecutive digits lie one cell apart whatever
    the digits, so a narrow "1" gets wide gaps on either side, unlike proportional
    figures, where it sits as close to its neighbours as any digit."""
    # a face with proportional figures (many fonts' figures are tabular already)
    face = next(f for family in glyphs.faces("train") for f in family if f["1"].advance < 0.8 * f["8"].advance)
    cell = max(face[d].advance for d in "0123456789")

    def centres(text, **options):
        placed = glyphs._row(np.random.default_rng(0), face, text, 1.0, **options)
        return np.array([x + g.mask.shape[1] / 2 for g, x, _ in placed])

    jitter = 0.3 * cell  # the uneven spacing's random part, of at most a few tenths of a cell
    for text in ("181", "818", "1111", "8888"):
        assert np.abs(np.diff(centres(text, tabular=True)) - cell).max() < jitter, text
    assert np.diff(centres("111", tabular=True)).mean() > np.diff(centres("111")).mean() + 0.2 * cell


def test_scenes_have_boxes_inside_the_image():
    for index in range(30):
        image, number, boxes = synth.render_scene(index, seed=2, purpose="train")
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
    truth = ["".join(str(int(label) % 10) for label in r["label"]) for r in records]
    assert numbers == [n if len(n) <= 5 else n[:5] + "+" for n in truth]


def test_same_seed_same_files(folder, tmp_path):
    out, records = folder
    again = synthesize(tmp_path / "again", 5, seed=5, workers=1, progress=False, purpose="train")
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
    train = render_numbers(20, seed=3, split="train", purpose="train")
    held = render_numbers(20, seed=3, split="held_out", purpose="train")
    assert not np.array_equal(train[0], held[0])


def test_zero_images():
    images, labels = render_numbers(0, purpose="train")
    assert images.shape == (0, 64, 64, 3) and labels["length"].shape == (0,)


def test_max_digits_and_size():
    images, labels = render_numbers(50, seed=2, max_digits=3, size=32, purpose="train")
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
        render_numbers(**kwargs, purpose="train")


def test_bad_split():
    with pytest.raises(ValueError, match="split must be one of"):
        render_numbers(3, split="test", purpose="train")
    with pytest.raises(ValueError, match="must be an int >= 1"):
        synthesize("/tmp/unused-folder", 0, purpose="train")


#: Numbers of 1..6 digits in SVHN's train split (33,402 images; counted from its
#: digitStruct boxes, shared/svhn-labels), independent of the generator's constants.
SVHN_TRAIN_LENGTHS = np.array([5_137, 18_130, 8_691, 1_434, 9, 1])


def test_svhn_length_mix_is_real_svhns():
    """Lengths drawn with lengths="svhn" follow SVHN's train split (5% of images
    without a number), checked against counts written here, not the module's."""
    length = render_numbers(1200, seed=3, lengths="svhn", purpose="train", workers=2)[1]["length"]
    counts = np.bincount(length, minlength=7)
    p = np.concatenate([[0.05], 0.95 * SVHN_TRAIN_LENGTHS / SVHN_TRAIN_LENGTHS.sum()])
    p = np.concatenate([p[:6], [p[6:].sum()]])  # 6 digits are the "more" class of 5 heads
    expected = p * length.size
    sigma = np.sqrt(expected * (1 - p))
    assert np.all(np.abs(counts - expected) < 4 * sigma + 1), (counts, expected.round(1))
    scenes = [len(synth.render_scene(i, seed=3, lengths="svhn", purpose="train")[1]) for i in range(60)]
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
    crops, crop_labels = render_numbers(30, seed=4, photo_share=0.0, purpose="train")
    photos, photo_labels = render_numbers(30, seed=4, photo_share=1.0, purpose="train")
    np.testing.assert_array_equal(crop_labels["digits"], photo_labels["digits"])
    assert np.abs(crops.astype(int) - photos.astype(int)).mean() > 10


@pytest.mark.parametrize("kwargs, message", [
    ({"lengths": "real"}, "lengths must be one of"),
    ({"photo_share": 1.5}, "photo_share must be between 0 and 1"),
    ({"photo_share": -0.1}, "photo_share must be between 0 and 1"),
])
def test_bad_mix_or_share(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_numbers(3, **kwargs, purpose="train")
    if "lengths" in kwargs:
        with pytest.raises(ValueError, match=message):
            synthesize("/tmp/unused-folder", 1, lengths=kwargs["lengths"], purpose="train")


def _draws(purpose, count, seed=0, split="train"):
    """The main draws (number, font, colours, framing, scale) of `count` framed
    images and of `count // 4` scenes of one stream, as a set of hashable tuples."""
    traces = []
    render_numbers(count, seed=seed, split=split, purpose=purpose, workers=2, traces=traces)
    for index in range(count // 4):
        trace = {}
        synth.render_scene(index, seed=seed, split=split, purpose=purpose, trace=trace)
        traces.append(trace)
    return {(t["number"], t["font"], t["contrast"], t["colour"], t["view"], t["scale"]) for t in traces}


def test_evaluation_images_never_replay_training_images():
    """With the same seed (and any seed the shipped recipe used), no image drawn for
    an evaluation purpose shares its number, font, colours and geometry with one
    drawn for training or validation."""
    training = _draws("train", 1600) | _draws("validation", 400) | _draws("train", 400, seed=1)
    assert _draws("train", 40) <= training  # a replayed stream is caught by this comparison
    for purpose in ("test", "unseen", "all_lengths", "benchmark"):
        shared = training & _draws(purpose, 400)
        assert not shared, f"{purpose}: {len(shared)} draws repeat training ones, e.g. {next(iter(shared))}"
    assert not training & _draws("test", 400, seed=1, split="held_out")


# ----------------------------------------------------------------------------- styles and effects

from kerasvhn.data import effects as synth_effects  # noqa: E402
from kerasvhn.data import styles as synth_styles  # noqa: E402

NO_DEGRADATIONS = {name: 0.0 for name in synth_effects.DEGRADATIONS}


@pytest.mark.parametrize("style", list(synth_styles.STYLES))
def test_each_style_renders_scenes_and_frames(style):
    """Every style draws scenes with one box per digit inside the image and framed
    images labelled with the number; the trace names the style."""
    for index in range(12):
        trace = {}
        image, number, boxes = synth.render_scene(index, seed=7, purpose="test", styles=style, trace=trace)
        height, width = image.shape[:2]
        assert trace["style"] == style and trace["number"] == number
        assert image.dtype == np.uint8 and 1 <= len(number) <= 6 and len(boxes) == len(number)
        for left, top, w, h in boxes:
            assert 0 <= left and left + w <= width + 1e-6 and 0 <= top and top + h <= height + 1e-6
    traces = []
    images, labels = render_numbers(24, seed=7, purpose="test", styles=style, traces=traces)
    assert {t["style"] for t in traces} == {style}
    assert labels_to_numbers(labels) == [t["number"][:5] + ("+" if len(t["number"]) > 5 else "") for t in traces]
    assert images.std(axis=(1, 2, 3)).min() > 1


def test_the_default_mixture_draws_every_style_by_its_weight():
    traces = []
    render_numbers(400, seed=1, purpose="train", workers=2, traces=traces)
    counts = {name: sum(t["style"] == name for t in traces) for name in synth_styles.STYLES}
    weights = synth_styles.DEFAULT_WEIGHTS
    total = sum(weights.values())
    for name, count in counts.items():
        p = weights[name] / total
        assert abs(count - 400 * p) < 5 * np.sqrt(400 * p * (1 - p)) + 1, (name, count)


def test_a_style_of_weight_zero_is_never_drawn_and_labels_stay():
    """Weight 0 switches a style off (the ablation switch); the numbers drawn do not
    depend on the styles or effects asked for."""
    base, off = [], []
    _, labels = render_numbers(200, seed=2, purpose="train", traces=base)
    _, labels_off = render_numbers(200, seed=2, purpose="train", traces=off,
                                   styles={"classic": 0, "metal_plate": 0}, effects={"domain": 0})
    assert any(t["style"] == "classic" for t in base) and any(t["style"] == "metal_plate" for t in base)
    assert not any(t["style"] in ("classic", "metal_plate") for t in off)
    np.testing.assert_array_equal(labels["digits"], labels_off["digits"])
    np.testing.assert_array_equal(labels["length"], labels_off["length"])
    only = []
    render_numbers(60, seed=2, purpose="train", traces=only, styles=["tile", "glass"])
    assert {t["style"] for t in only} == {"tile", "glass"}


@pytest.mark.parametrize("styles, message", [
    ("marble", "styles must be among"),
    ({"metal_plate": -1}, "style weights must be numbers >= 0"),
    ({name: 0 for name in synth_styles.STYLES}, "must not all be 0"),
])
def test_bad_styles(styles, message):
    with pytest.raises(ValueError, match=message):
        render_numbers(2, purpose="train", styles=styles)


@pytest.mark.parametrize("effects, message", [
    ({"fog": 0.5}, "effects must be among"),
    ({"domain": 1.5}, "between 0 and 1"),
])
def test_bad_effects(effects, message):
    with pytest.raises(ValueError, match=message):
        render_numbers(2, purpose="train", effects=effects)


def test_effects_switch_on_and_off_without_changing_the_rest():
    """Each effect has its own fixed draws: switching domain randomisation off
    changes only the images that had it; switching everything off applies nothing."""
    with_domain, without = [], []
    on, _ = render_numbers(150, seed=3, purpose="train", traces=with_domain, effects={"domain": 1.0})
    off, _ = render_numbers(150, seed=3, purpose="train", traces=without, effects={"domain": 0.0})
    assert all("domain" in t["effects"] for t in with_domain)
    assert not any("domain" in t["effects"] for t in without)
    assert [t["style"] for t in with_domain] == [t["style"] for t in without]
    assert [t["view"] for t in with_domain] == [t["view"] for t in without]
    assert np.abs(on.astype(int) - off.astype(int)).mean() > 5
    none = []
    render_numbers(60, seed=3, purpose="train", traces=none, effects={name: 0.0 for name in synth_effects.EFFECTS})
    assert all(t["effects"] == () for t in none)


def test_domain_randomisation_keeps_shape_and_changes_colours():
    image = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    for kind in range(4):
        u = np.array([kind / 4 + 0.01, 0.5, 0.5, 0.5])
        out = synth_effects.recolour(image, u)
        assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)
    np.testing.assert_array_equal(synth_effects.recolour(image, np.array([0.3, 0, 0, 0])), 255 - image)


def test_vertical_numbers_read_top_first():
    """A vertical number's label is the number read from the top: its boxes go down
    the image in the label's order, each digit upright (taller than wide, mostly)."""
    upright = 0
    for index in range(25):
        trace = {}
        _, number, boxes = synth.render_scene(index, seed=4, purpose="test", styles="vertical", trace=trace,
                                              effects=NO_DEGRADATIONS)
        assert trace["number"] == number and len(boxes) == len(number)
        tops = [top + h / 2 for _, top, _, h in boxes]
        assert tops == sorted(tops), (number, boxes)
        upright += sum(h > w for _, _, w, h in boxes if number)
    assert upright > 0.7 * sum(len(synth.render_scene(i, seed=4, purpose="test", styles="vertical")[1])
                               for i in range(25))


def test_edge_cut_keeps_enough_of_the_end_digits():
    """An edge-cut frame ends inside the first or last character (or right at it) and
    keeps at least 1 - EDGE_CUT of each end character's width (height, vertically)."""
    rng = np.random.default_rng(0)
    for vertical in (False, True):
        for _ in range(300):
            boxes = [(10.0 * k, 0.0, 10.0 * k + 8, 20.0) if not vertical else (0.0, 25.0 * k, 8.0, 25.0 * k + 20)
                     for k in range(int(rng.integers(1, 6)))]
            union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                     max(b[3] for b in boxes))
            view = synth._edge_cut(union, boxes, rng.random(6), vertical)
            axis = 1 if vertical else 0
            for box in (boxes[0], boxes[-1]):
                extent = box[axis + 2] - box[axis]
                inside = min(box[axis + 2], view[axis + 2]) - max(box[axis], view[axis])
                assert inside >= (1 - synth.EDGE_CUT) * extent - 1e-9
            first_extent = boxes[0][axis + 2] - boxes[0][axis]
            assert view[axis] >= union[axis] - 0.08 * first_extent - 1e-9, "the frame ends at the number"


def test_edge_cut_scenes_keep_the_full_label_and_touch_the_edge():
    """Phone photos of plates that fill the frame: the label is the whole number, the
    boxes stay inside the image, and the first or last box reaches the image's edge."""
    touching = 0
    for index in range(30):
        image, number, boxes = synth.render_scene(index, seed=6, purpose="test", effects={"edge_cut": 1.0})
        height, width = image.shape[:2]
        full = synth.render_scene(index, seed=6, purpose="test", effects={"edge_cut": 0.0})[1]
        assert number == full and len(boxes) == len(number)
        left, right = boxes[0][0], boxes[-1][0] + boxes[-1][2]
        top, bottom = boxes[0][1], boxes[-1][1] + boxes[-1][3]
        touching += min(left, top) < 2 or right > width - 2 or bottom > height - 2
    assert touching >= 25
    _, cut_labels = render_numbers(100, seed=6, purpose="test", effects={"edge_cut": 1.0})
    _, labels = render_numbers(100, seed=6, purpose="test", effects={"edge_cut": 0.0})
    np.testing.assert_array_equal(cut_labels["digits"], labels["digits"])


@pytest.mark.parametrize("style", ["vertical"])
def test_styles_are_deterministic_across_workers_and_prefixes(style):
    one = render_numbers(300, seed=8, purpose="train", styles=style, workers=1)
    two = render_numbers(300, seed=8, purpose="train", styles=style, workers=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(render_numbers(20, seed=8, purpose="train", styles=style)[0], one[0][:20])


def test_held_out_split_never_draws_training_fonts_or_looks():
    """The held-out split draws only held-out fonts (digital ones included), and the
    new backgrounds and looks keep a held-out share that training never draws."""
    traces = []
    render_numbers(300, seed=5, split="held_out", purpose="test", traces=traces, workers=2)
    names = {t["font"][0] for t in traces}
    assert names <= set(fonts.HELD_OUT_FAMILIES) | {"Dot Matrix"}, names
    for style in ("lightbox",):
        digital = []
        render_numbers(150, seed=5, split="held_out", purpose="test", traces=digital, styles=style)
        drawn_in = {t["font"][0] for t in digital}
        assert "Dot Matrix" in drawn_in and "Seven Segment" not in drawn_in
    train_masks = {t["0"].mask.tobytes() for _, t in glyphs.drawn_faces("train")}
    assert not any(t["0"].mask.tobytes() in train_masks for _, t in glyphs.drawn_faces("held_out"))
    generic = {"plain", "grain"}
    assert not (set(textures.WALLS["held_out"]) - generic) & set(textures.WALLS["train"])
    assert not (set(textures.WALLS["train"]) - generic) & set(textures.WALLS["held_out"])
    from kerasvhn.data.styles import enamel, metal_plate

    assert not set(metal_plate.HELD_OUT_FINISHES) & set(metal_plate.FINISHES)
    assert set(enamel.SHAPES["held_out"]) - set(enamel.SHAPES["train"])
    assert "kerasvhn:flower.jpg" in textures.HELD_OUT_PHOTOS and "kerasvhn:china.jpg" not in textures.HELD_OUT_PHOTOS


# ----------------------------------------------------------------------------- fonts shipped with kerasvhn


def test_shipped_fonts_are_pinned_small_and_licensed():
    """Every shipped font file matches SHA256SUMS (the same bytes on every machine),
    none is over 2 MiB, the whole folder stays a few MB, and each family's folder
    holds its licence."""
    sums = fonts.shipped_checksums()
    shipped = {os.path.relpath(p, fonts.FONT_FOLDER) for faces in fonts.font_families("all").values()
               for p, _ in faces if p.startswith(fonts.FONT_FOLDER)}
    assert shipped and shipped <= set(sums)
    total = 0
    for name, digest in sums.items():
        path = os.path.join(fonts.FONT_FOLDER, name)
        assert fonts.sha256(path) == digest, name
        size = os.path.getsize(path)
        assert size <= 2 * 1024 * 1024, name
        total += size
        folder = os.listdir(os.path.dirname(path))
        assert any(f.startswith(("OFL", "LICENSE")) for f in folder), name
    assert total < 6 * 1024 * 1024


def test_a_missing_font_file_is_an_error_naming_it(monkeypatch):
    fonts._available.cache_clear()
    monkeypatch.setitem(fonts.FAMILIES, "Nowhere Sans", ("roboto", ("NowhereSans-Regular.ttf",)))
    try:
        with pytest.raises(RuntimeError, match="NowhereSans-Regular.ttf"):
            fonts.font_families("all")
    finally:
        monkeypatch.undo()
        fonts._available.cache_clear()
    assert "Nowhere Sans" not in fonts.font_families("all")


def test_the_font_set_does_not_depend_on_installed_font_packages(monkeypatch):
    """Fonts come from kerasvhn's own files and matplotlib's: hiding every font
    package changes nothing."""
    import importlib.util

    before = fonts.font_families("all")
    real = importlib.util.find_spec

    def hidden(name, *args):
        if name.startswith(("font_", "ttf_", "fontpkg_")):
            return None
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    fonts._available.cache_clear()
    try:
        assert fonts.font_families("all") == before
    finally:
        fonts._available.cache_clear()


def test_drawn_digital_faces_have_ten_distinct_digits():
    for split in ("train", "held_out"):
        for _, table in glyphs.drawn_faces(split):
            masks = [table[str(d)].mask for d in range(10)]
            assert all(m.max() > 200 for m in masks) and len({m.tobytes() for m in masks}) == 10


def test_synth_command_renders_one_style_with_a_preview(tmp_path, capsys):
    from kerasvhn.cli import main

    out = tmp_path / "plates"
    assert main(["synth", str(out), "--count", "6", "--purpose", "test", "--style", "metal_plate", "--workers", "1",
                 "--effect", "domain=0", "--preview"]) == 0
    assert (out / "preview.png").is_file() and len(list(out.glob("*.png"))) == 7
    assert main(["synth", str(tmp_path / "sheet"), "--count", "2", "--purpose", "test", "--style", "tile",
                 "--style", "stencil", "--workers", "1", "--preview-styles", "--no-degradations"]) == 0
    assert (tmp_path / "sheet" / "styles.png").is_file() and (tmp_path / "sheet" / "tile" / "1.png").is_file()
