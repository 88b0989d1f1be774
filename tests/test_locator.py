"""The number locator: synthetic whole photos, targets, the network, its files, training,
and `kerasvhn locate` / `kerasvhn train_locator`."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

import kerasvhn
from kerasvhn.cli import main
from kerasvhn.data.photo_scenes import render_encoded, render_photo
from kerasvhn.locator import (Box, NumberLocator, boxes_in_photo, decode_boxes, fit_photo, giou, iou, load_locator,
                              locator_loss)
from kerasvhn.locator_training import (SaveEachEpoch, encode_targets, epoch_path, match, score_boxes, train_locator,
                                       training_window)
from kerasvhn.saving import save_model
from stand_in_locator import BrightPlate

# ----------------------------------------------------------------------------- synthetic whole photos


def test_a_photo_is_its_stream_and_its_boxes_lie_inside_it():
    first = render_photo(4, seed=3, purpose="test", long_side=320)
    again = render_photo(4, seed=3, purpose="test", long_side=320)
    np.testing.assert_array_equal(first.image, again.image)
    assert (first.numbers, first.boxes) == (again.numbers, again.boxes)
    height, width = first.image.shape[:2]
    assert max(height, width) == 320
    for number, (left, top, w, h), digits in zip(first.numbers, first.boxes, first.digit_boxes):
        assert number.isdigit() and len(digits) == len(number)
        assert 0 <= left and 0 <= top and left + w <= width + 1e-6 and top + h <= height + 1e-6 and w > 0 and h > 0
        for dl, dt, dw, dh in digits:  # the number's box is the union of its digits'
            assert left - 1e-6 <= dl and dl + dw <= left + w + 1e-6 and top - 1e-6 <= dt and dt + dh <= top + h + 1e-6


def test_purposes_and_splits_are_streams_of_their_own():
    """A test photo never replays the training photo of the same seed and index."""
    train = render_photo(0, seed=0, purpose="train", long_side=256)
    test = render_photo(0, seed=0, purpose="test", long_side=256)
    held = render_photo(0, seed=0, purpose="train", split="held_out", long_side=256)
    assert not np.array_equal(train.image[:64, :64], test.image[:64, :64])
    assert not np.array_equal(train.image[:64, :64], held.image[:64, :64])


def test_photos_show_from_zero_to_three_numbers_of_every_size():
    photos = [render_photo(i, seed=1, purpose="train", long_side=(320, 400)) for i in range(40)]
    counts = [len(p.numbers) for p in photos]
    assert min(counts) == 0 and max(counts) >= 2
    shares = [b[2] / p.image.shape[1] for p in photos for b in p.boxes]
    assert min(shares) < 0.05 and max(shares) > 0.2
    assert {p.kind for p in photos} >= {"door", "facade", "wall"}


def _gaps(photos):
    """Each pair of neighbouring digits' gap over their mean height, rows and stacks."""
    gaps = []
    for photo in photos:
        for digits in photo.digit_boxes:
            for (l0, t0, w0, h0), (l1, t1, w1, h1) in zip(digits, digits[1:]):
                stacked = t1 >= t0 + h0 - 0.25 * h0
                gap = t1 - (t0 + h0) if stacked else l1 - (l0 + w0)
                gaps.append(gap / ((h0 + h1) / 2))
    return np.array(gaps)


def test_spaced_numbers_spread_their_digits(monkeypatch):
    """SPACED_SHARE of the numbers are spread apart (fixed-pitch rows, wide stacks): the
    same photos drawn with every number spaced have wider gaps than with none."""
    from kerasvhn.data import photo_scenes

    def photos(share):
        monkeypatch.setattr(photo_scenes, "SPACED_SHARE", share)
        return [render_photo(i, seed=2, purpose="test", long_side=320) for i in range(30)]

    spaced, plain = _gaps(photos(1.0)), _gaps(photos(0.0))
    assert len(spaced) > 15 and len(plain) > 15  # (a wider second number may find no room)
    assert np.median(spaced) > np.median(plain) + 0.1


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="kinds must be among"):
        render_photo(0, purpose="train", kinds="castle")
    with pytest.raises(ValueError, match="purpose must be one of"):
        render_photo(0, purpose="fun")


# ----------------------------------------------------------------------------- targets and decoding


@pytest.mark.parametrize("boxes", [
    [(36, 16, 84, 40)],
    [(3.5, 5.0, 9.0, 9.5), (100.2, 60.7, 250.9, 118.3)],  # smaller than a cell, and a wide one
    [(10, 10, 30, 22), (200, 20, 230, 100), (120, 90, 124, 96)],  # three, one vertical
])
def test_perfect_outputs_decode_to_the_boxes_encoded(boxes):
    targets = encode_targets(boxes, 128, 256)
    heat = np.where(targets["heat"] >= 0.999, 12.0, -12.0)
    box = targets["box"]
    outputs = np.concatenate([box[..., :2], np.log(np.maximum(box[..., 2:4], 1e-6))], axis=-1)
    found = decode_boxes(heat, outputs, min_score=0.5)
    assert len(found) == len(boxes)
    for true in boxes:
        assert max(iou(f, true) for f in found) > 0.999


def test_targets_ignore_numbers_a_window_cuts_and_keep_the_rest():
    rng = np.random.default_rng(0)
    image = Image.new("RGB", (600, 400), (120, 120, 120))
    truth = [(10, 10, 110, 60), (300, 200, 360, 230)]
    pixels, kept, ignored = training_window(rng, image, truth, 512, 128)
    assert pixels.shape == (128, 128, 3)
    for x0, y0, x1, y1 in kept + ignored:
        assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
    targets = encode_targets([], 128, 128, ignore=[(8, 8, 40, 40)])
    assert targets["heat"].min() == -1.0 and targets["box"][..., 4].max() == 0


def test_the_loss_is_small_for_the_truth_and_large_for_a_wrong_guess():
    targets = encode_targets([(40, 16, 120, 48)], 64, 160)
    heat_logits = np.where(targets["heat"] >= 0.999, 9.0, -9.0).astype("float32")
    box = targets["box"]
    right = np.concatenate([box[..., :2], np.log(np.maximum(box[..., 2:4], 1e-6))], -1).astype("float32")
    y_true = {"heat": targets["heat"][None], "box": box[None]}
    good = float(locator_loss(y_true, {"heat": heat_logits[None], "box": right[None]}))
    bad = float(locator_loss(y_true, {"heat": -heat_logits[None], "box": (right * 0 + 2.0)[None]}))
    assert good < 0.05 < 5 < bad


def test_giou_of_boxes_given_as_the_model_predicts_them():
    """(dx, dy, log w, log h) against (dx, dy, w, h): equal boxes 1; a 2x1 box shifted by
    half a cell 1.5 / 2.5; two unit boxes 5 cells apart 0 - 4/6 (their hull is 6 wide)."""
    raw = np.array([[0, 0, np.log(2), 0], [0.5, 0, np.log(2), 0], [5, 0, 0, 0]], "float32")
    truth = np.array([[0, 0, 2, 1, 1], [0, 0, 2, 1, 1], [0, 0, 1, 1, 1]], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(giou(raw, truth)), [1.0, 0.6, -2 / 3], atol=1e-5)


def test_the_iou_term_adds_nothing_for_the_truth_and_more_for_a_worse_box():
    targets = encode_targets([(40, 16, 120, 48)], 64, 160)
    heat_logits = np.where(targets["heat"] >= 0.999, 9.0, -9.0).astype("float32")[None]
    box = targets["box"]
    right = np.concatenate([box[..., :2], np.log(np.maximum(box[..., 2:4], 1e-6))], -1).astype("float32")
    y_true = {"heat": targets["heat"][None], "box": box[None]}
    for guess, extra in ((right, 0.0), (right + np.array([0, 0, -0.5, 0], "float32"), None)):
        plain = float(locator_loss(y_true, {"heat": heat_logits, "box": guess[None]}))
        with_iou = float(locator_loss(y_true, {"heat": heat_logits, "box": guess[None]}, iou_weight=2.0))
        if extra == 0.0:
            assert with_iou == pytest.approx(plain, abs=1e-4)
        else:  # centred boxes 0.61 of the width: 1 - GIoU = 0.39 at every weighted cell
            assert 2 * 0.3 < with_iou - plain < 2 * 0.45
    with pytest.raises(ValueError, match="iou_weight"):
        NumberLocator("locator_tiny").compile(iou_weight=-1.0)


def test_greedy_matching_and_scores():
    found = [[(0, 0, 10, 10, 0.9), (50, 50, 60, 60, 0.2)], [(0, 0, 5, 5, 0.8)]]
    truth = [[(0, 0, 10, 10), (100, 0, 110, 10)], []]
    scores = score_boxes(found, truth, [200, 200], min_score=0.5)
    assert (scores["true_positives"], scores["located"], scores["numbers"]) == (1, 2, 2)
    assert scores["recall"] == 0.5 and scores["precision"] == 0.5 and scores["photos_without_numbers_with_a_box"] == 1
    assert match([(0, 0, 10, 10, 0.9)], [(20, 20, 30, 30)]) == [None]


# ----------------------------------------------------------------------------- photos in, boxes out


def test_a_photo_is_fit_by_exact_factors():
    pixels, (sx, sy) = fit_photo(Image.new("RGB", (333, 1000), (9, 9, 9)), 512)
    assert pixels.shape == (512, 512, 3) and (sx, sy) == (170 / 333, 512 / 1000)
    assert float(pixels.max()) == pytest.approx(9 / 255)  # the padding repeats the photo's edge


class _Peak:
    """Stand-in network outputs: one number's centre at (row, col) of the grid, its box
    (dx, dy, width, height) in cells; records the inputs it saw."""

    def __init__(self, row, col, box):
        self.row, self.col, self.box, self.seen = row, col, box, []

    def __call__(self, images):
        self.seen.append(np.asarray(images))
        count, height, width = images.shape[:3]
        heat = np.full((count, height // 8, width // 8, 1), -10.0)
        heat[:, self.row, self.col] = 5.0
        box = np.zeros((count, height // 8, width // 8, 4))
        dx, dy, w, h = self.box
        box[:, self.row, self.col] = (dx, dy, np.log(w), np.log(h))
        return {"heat": heat, "box": box}


@pytest.fixture(scope="module")
def tiny():
    return NumberLocator("locator_tiny", input_size=512)


def test_boxes_map_back_to_the_photos_pixels_exactly(tiny, monkeypatch):
    """A box the network finds at known input pixels comes back divided by the exact
    resize factors: 1000x750 -> 512x384 (0.512 both ways), 640x960 -> 341x512."""
    peak = _Peak(10, 20, (0.25, -0.5, 6.0, 2.0))  # input box (142, 72) to (190, 88)
    monkeypatch.setattr(tiny, "predict_on_batch", peak)
    (box,) = tiny.locate(np.zeros((750, 1000, 3), np.uint8), min_score=0.5)[0]
    assert peak.seen[0].shape == (1, 512, 512, 3)
    expected = (142 / 0.512, 72 / 0.512, 48 / 0.512, 16 / 0.512)
    np.testing.assert_allclose(box[:4], expected, rtol=1e-12)
    (tall,) = tiny.locate(np.zeros((960, 640, 3), np.uint8), min_score=0.5)[0]
    sx, sy = 341 / 640, 512 / 960
    np.testing.assert_allclose(tall[:4], (142 / sx, 72 / sy, 48 / sx, 16 / sy), rtol=1e-12)


def test_boxes_of_a_rotated_phone_photo_are_in_its_upright_pixels(tiny, tmp_path, monkeypatch):
    """Stored turned with an EXIF orientation, the photo is located upright: the bright
    plate of the upright 300 x 400 photo is found where it is in the upright photo."""
    monkeypatch.setattr(tiny, "predict_on_batch", BrightPlate())
    upright = np.full((400, 300, 3), 30, np.uint8)
    upright[250:290, 60:180] = 240  # the plate: left 60, top 250, 120 x 40
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "phone.png", exif=exif)
    from kerasvhn.predict import load_image

    (stored,) = tiny.locate(load_image(tmp_path / "phone.png"), min_score=0.5)[0]
    (plain,) = tiny.locate(upright, min_score=0.5)[0]
    np.testing.assert_allclose(stored[:4], plain[:4], atol=1e-9)
    np.testing.assert_allclose(plain[:4], (60, 250, 120, 40), atol=1.5)  # to a resized pixel (x1.28)


class _BySize:
    """Stand-in network outputs with one peak per input side: {side: (row, col,
    (dx, dy, width, height) in cells, logit)}; no peak at other sides."""

    def __init__(self, peaks):
        self.peaks, self.sides = peaks, []

    def __call__(self, images):
        count, height, width = images.shape[:3]
        self.sides.append(height)
        heat = np.full((count, height // 8, width // 8, 1), -10.0)
        box = np.zeros((count, height // 8, width // 8, 4))
        if height in self.peaks:
            row, col, (dx, dy, w, h), logit = self.peaks[height]
            heat[:, row, col] = logit
            box[:, row, col] = (dx, dy, np.log(w), np.log(h))
        return {"heat": heat, "box": box}


@pytest.mark.parametrize("zoom_box, logit, kept", [
    ((0.0, 0.0, 2.0, 1.0), 2.0, True),  # 16 of 512 input pixels: 31 of 1000 (3.1% < 5%), score 0.88
    ((0.0, 0.0, 4.0, 1.0), 2.0, False),  # 62 of 1000: too wide for the zoom
    ((0.0, 0.0, 2.0, 1.0), -0.5, False),  # score 0.38: under the zoom's 0.5, whatever min_score asks
])
def test_the_zoom_adds_only_small_sure_boxes(monkeypatch, zoom_box, logit, kept):
    locator = NumberLocator("locator_tiny", input_size=256, zoom=[2.0, 0.05, 0.5])
    peaks = _BySize({512: (20, 30, zoom_box, logit)})
    monkeypatch.setattr(locator, "predict_on_batch", peaks)
    found = locator.locate(np.zeros((750, 1000, 3), np.uint8), min_score=0.1)[0]
    assert peaks.sides == locator.reading_sides() == [256, 512]  # the usual reading, then the zoom's
    if kept:
        (box,) = found
        np.testing.assert_allclose(box[:4], ((30.5 - 1) * 8 / 0.512, (20.5 - 0.5) * 8 / 0.512, 16 / 0.512,
                                             8 / 0.512), rtol=1e-12)
    else:
        assert found == []
    # Any box of the usual readings is kept, however wide; no zoom, no second reading.
    plain = NumberLocator("locator_tiny", input_size=256, zoom=[])
    peaks = _BySize({256: (10, 15, (0.0, 0.0, 8.0, 2.0), 2.0)})
    monkeypatch.setattr(plain, "predict_on_batch", peaks)
    (wide,) = plain.locate(np.zeros((750, 1000, 3), np.uint8), min_score=0.1)[0]
    assert peaks.sides == plain.reading_sides() == [256] and wide.width == pytest.approx(64 / 0.256)
    with pytest.raises(ValueError, match="zoom must be"):
        NumberLocator("locator_tiny", zoom=[2.0, 0.05])


def test_boxes_are_clipped_to_the_photo_and_empty_ones_dropped():
    boxes = boxes_in_photo([(-10, -5, 30, 20, 0.9), (600, 600, 700, 700, 0.8)], (0.5, 0.5), (400, 300))
    assert boxes == [Box(0.0, 0.0, 60.0, 40.0, 0.9)]


# ----------------------------------------------------------------------------- the network, its files, training


def test_outputs_have_the_grids_shape_on_any_photo_shape(tiny):
    outputs = tiny.predict_on_batch(np.zeros((2, 96, 160, 3), np.float32))
    assert tuple(outputs["heat"].shape) == (2, 12, 20, 1) and tuple(outputs["box"].shape) == (2, 12, 20, 4)
    with pytest.raises(ValueError, match="multiple of 32"):
        NumberLocator("locator_tiny", input_size=100)
    with pytest.raises(ValueError, match="unknown locator preset"):
        NumberLocator("huge")


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_a_saved_locator_loads_with_its_config_and_weights(tmp_path, suffix):
    locator = NumberLocator("locator_tiny", input_size=128, min_score=0.4, zoom=[1.5, 0.1, 0.6],
                            training_streams=[{"purpose": "train", "seed": 3, "split": "train", "count": 9}])
    x = np.random.default_rng(1).random((1, 128, 128, 3)).astype(np.float32)
    path = tmp_path / f"locator{suffix}"
    save_model(locator, path)
    loaded = load_locator(str(path))
    assert isinstance(loaded, NumberLocator)
    assert (loaded.input_size, loaded.min_score, loaded.training_streams) == (128, 0.4, locator.training_streams)
    assert loaded.zoom == [1.5, 0.1, 0.6] and NumberLocator.from_config(NumberLocator("locator_small").get_config()).zoom
    assert NumberLocator.from_config(NumberLocator("locator_small", zoom=[]).get_config()).zoom == []
    for key in ("heat", "box"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.predict_on_batch(x)[key]),
                                   keras.ops.convert_to_numpy(locator.predict_on_batch(x)[key]), atol=1e-5)


def test_the_shipped_locator_is_named_and_a_missing_one_says_how_to_get_one():
    from kerasvhn.locator_presets import PRETRAINED_LOCATORS, shipped_locator_available

    assert "kerasvhn train_locator" in PRETRAINED_LOCATORS["locator_synthetic"]["recipe"]
    if not shipped_locator_available():
        with pytest.raises(FileNotFoundError, match="train_locator"):
            NumberLocator.from_preset("locator_synthetic")


def test_a_tiny_locator_learns_to_find_dark_bars():
    """The loss and its gradients on this backend: 150 steps on 4 photos of dark bars on
    light ground find every bar (IoU >= 0.5)."""
    rng = np.random.default_rng(2)
    images, truths = [], []
    for _ in range(4):
        image = np.full((128, 128, 3), 0.85, np.float32) + rng.normal(0, 0.02, (128, 128, 3)).astype(np.float32)
        x0, y0 = rng.integers(8, 70, size=2)
        w, h = rng.integers(24, 50), rng.integers(10, 24)
        image[y0 : y0 + h, x0 : x0 + w] = 0.1
        images.append(image)
        truths.append([(float(x0), float(y0), float(x0 + w), float(y0 + h))])
    targets = [encode_targets(t, 128, 128) for t in truths]
    y = {key: np.stack([t[key] for t in targets]) for key in ("heat", "box")}
    keras.utils.set_random_seed(0)
    locator = NumberLocator("locator_tiny", input_size=128)
    locator.compile(optimizer=keras.optimizers.Adam(3e-3))
    x = np.stack(images)
    first = float(locator.train_on_batch(x, y))
    for _ in range(150):
        last = float(locator.train_on_batch(x, y))
    assert last < 0.3 * first
    outputs = locator(x, training=True)  # batch statistics: 150 steps are too few for the moving ones
    heat, box = (keras.ops.convert_to_numpy(outputs[k]) for k in ("heat", "box"))
    for k, truth in enumerate(truths):
        found = decode_boxes(heat[k], box[k], min_score=0.3)
        assert found and iou(found[0], truth[0]) >= 0.5, (found, truth)


@pytest.fixture(scope="module")
def small_photos():
    return (render_encoded(6, 0, "train", workers=1, long_side=160, log=lambda *a: None),
            render_encoded(2, 0, "validation", workers=1, long_side=160, log=lambda *a: None))


def test_train_locator_records_its_photos_and_reports_both_losses(small_photos):
    locator, history = train_locator(6, 1, validation_count=2, preset="locator_tiny", batch_size=3, crop=64,
                                     photos=small_photos, iou_weight=1.0, verbose=0, log=lambda *a: None)
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
    assert locator.iou_weight == 1.0
    assert [(s["purpose"], s["count"]) for s in locator.training_streams] == [("train", 6), ("validation", 2)]


def test_more_photos_are_recorded_as_their_own_stream(small_photos):
    train, validation = small_photos
    locator, _ = train_locator(4, 1, validation_count=2, preset="locator_tiny", batch_size=3, crop=64,
                               photos=(train, validation), more=[(1, 2)], verbose=0, log=lambda *a: None)
    assert [(s["purpose"], s["seed"], s["count"]) for s in locator.training_streams] == [
        ("train", 0, 4), ("train", 1, 2), ("validation", 0, 2)]
    with pytest.raises(ValueError, match="fewer than"):
        train_locator(4, 1, photos=(train, validation), more=[(1, 6)], verbose=0, log=lambda *a: None)


def test_more_photos_are_rendered_after_the_first_seeds():
    locator, _ = train_locator(2, 1, validation_count=1, preset="locator_tiny", batch_size=1, crop=64, workers=1,
                               more=[(3, 1)], verbose=0, log=lambda *a: None)
    assert [(s["seed"], s["count"]) for s in locator.training_streams if s["purpose"] == "train"] == [(0, 2), (3, 1)]
    assert int(locator.optimizer.iterations) == 3  # the 2 photos of seed 0 and the 1 of seed 3, one a step


def test_stop_after_runs_the_first_epochs_of_a_longer_schedule(small_photos):
    """Two batches an epoch, a schedule over 2 epochs stopped after 1: the learning rate
    is left halfway down its cosine (5e-4; a full 1-epoch run ends at its floor, 1e-5)."""
    locator, history = train_locator(6, 2, validation_count=2, preset="locator_tiny", batch_size=3, crop=64,
                                     learning_rate=1e-3, photos=small_photos, stop_after=1, verbose=0,
                                     log=lambda *a: None)
    assert len(history["loss"]) == 1 and int(locator.optimizer.iterations) == 2
    assert 3e-4 < float(locator.optimizer.learning_rate) < 8e-4
    with pytest.raises(ValueError, match="stop_after must be at most epochs"):
        train_locator(6, 2, photos=small_photos, stop_after=3, verbose=0, log=lambda *a: None)


def test_save_each_epoch_leaves_every_epochs_weights(small_photos, tmp_path):
    """Each epoch's file holds that epoch's weights: the first differs from the last,
    and the last equals the trained locator's."""
    out = tmp_path / "loc.weights.h5"
    locator, _ = train_locator(6, 2, validation_count=2, preset="locator_tiny", batch_size=3, crop=64,
                               photos=small_photos, callbacks=[SaveEachEpoch(out)], verbose=0, log=lambda *a: None)
    first, last = (load_locator(epoch_path(out, k)) for k in (1, 2))
    assert sorted(p.name for p in tmp_path.glob("*.weights.h5")) == ["loc.epoch1.weights.h5", "loc.epoch2.weights.h5"]
    for trained, saved in zip(locator.get_weights(), last.get_weights()):
        np.testing.assert_array_equal(trained, saved)
    assert any(not np.array_equal(a, b) for a, b in zip(first.get_weights(), last.get_weights()))
    with pytest.raises(ValueError, match=".keras or .weights.h5"):
        SaveEachEpoch(tmp_path / "loc.h5")


# ----------------------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    """An untrained tiny locator whose boxes are all 8 x 8 input pixels (its box layer zeroed)."""
    path = tmp_path_factory.mktemp("locator") / "tiny.keras"
    locator = NumberLocator("locator_tiny")
    layer = locator.get_layer("box")
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    save_model(locator, path)
    return path


def test_cli_locate_prints_boxes_inside_each_photo(tiny_file, tmp_path, capsys):
    photo = render_photo(2, seed=5, purpose="test", long_side=300)
    Image.fromarray(photo.image).save(tmp_path / "door.png")
    (tmp_path / "broken.png").write_bytes(b"nope")
    status = main(["locate", str(tmp_path / "door.png"), str(tmp_path / "broken.png"), "--locator", str(tiny_file),
                   "--json", "--min-score", "0", "--max-boxes", "3", "--annotate", str(tmp_path / "seen")])
    captured = capsys.readouterr()
    assert status == 1 and "broken.png: not a readable image" in captured.err
    (row,) = [json.loads(line) for line in captured.out.splitlines()]
    assert row["file"] == str(tmp_path / "door.png") and 1 <= len(row["boxes"]) <= 3
    height, width = photo.image.shape[:2]
    for found in row["boxes"]:
        left, top, w, h = found["box"]
        assert 0 <= left and 0 <= top and left + w <= width + 0.1 and top + h <= height + 0.1
        assert 0 <= found["score"] <= 1
    with Image.open(tmp_path / "seen" / "door.png") as annotated:
        assert annotated.size == (width, height)


def test_cli_train_locator_saves_and_scores(tmp_path, capsys):
    out = tmp_path / "loc.weights.h5"
    assert main(["train_locator", str(out), "--preset", "locator_tiny", "--count", "3", "--validation-count", "1",
                 "--epochs", "1", "--batch-size", "3", "--crop", "64", "--test-count", "2"]) == 0
    text = capsys.readouterr().out
    assert "recall at IoU 0.5" in text and "precision" in text
    assert isinstance(load_locator(str(out)), NumberLocator)
    assert main(["train_locator", str(tmp_path / "x.h5")]) == 1
    assert "must end in .keras or .weights.h5" in capsys.readouterr().err
    assert main(["train_locator", str(out), "--iou-loss", "-1"]) == 1
    assert "--iou-loss must be at least 0" in capsys.readouterr().err
    assert main(["train_locator", str(out), "--look-windows", "1.2"]) == 1
    assert "--look-windows must be between 0 and 1" in capsys.readouterr().err
    assert main(["train_locator", str(out), "--preset", "locator_tiny", "--look-windows", "0.3"]) == 1
    assert "need a locator with a second look" in capsys.readouterr().err
    assert main(["train_locator", str(out), "--decoy-windows", "-0.5"]) == 1
    assert "--decoy-windows must be between 0 and 1" in capsys.readouterr().err
    assert main(["train_locator", str(out), "--preset", "locator_tiny", "--decoy-windows", "0.3"]) == 1
    assert "need a locator with a second look" in capsys.readouterr().err
