"""Scoring labelled photos (`kerasvhn evaluate --photos`), test-time augmentation and AdaBN."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

import kerasvhn
from kerasvhn.cli import main
from kerasvhn.data.synth import render_scene
from kerasvhn.framing import frame, frame_pixels
from kerasvhn.layers import ConvBNReLU
from kerasvhn.photos import (
    TTA_VIEWS, LabelsError, Photo, adapt_batchnorm, evaluate_photos, folder_images, misses, read_labels, read_with_tta,
    tta_views, write_report,
)
from kerasvhn.predict import load_image, readings_of
from scripted_model import ScriptedModel


def _logits(numbers, strength=8.0, digit_strength=None, max_digits=5):
    """Logits that read each number: its length and digits `strength` above the other
    classes (digits `digit_strength` when given: 2 reads a 2-digit number at about 0.2)."""
    length = np.zeros((len(numbers), max_digits + 2), np.float32)
    digits = np.zeros((len(numbers), max_digits, 10), np.float32)
    for i, number in enumerate(numbers):
        length[i, len(number)] = strength
        for position, digit in enumerate(number):
            digits[i, position, int(digit)] = strength if digit_strength is None else digit_strength
    return {"length": length, "digits": digits}


def _concatenate(*outputs):
    return {key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]}


def _folder(tmp_path, rows, header="file,number,framing"):
    """A photo folder: a small random PNG for each row's file unless the row says
    otherwise ("broken": text in a .png; "missing": no file), and labels.csv."""
    rng = np.random.default_rng(0)
    lines = [header]
    for row in rows:
        file, *rest = row
        kind = rest.pop() if rest and rest[-1] in ("broken", "missing") else "photo"
        if kind == "photo":
            size = (int(rng.integers(20, 90)), int(rng.integers(20, 140)), 3)
            Image.fromarray(rng.integers(0, 256, size=size, dtype=np.uint8)).save(tmp_path / file)
        elif kind == "broken":
            (tmp_path / file).write_text("not an image")
        lines.append(",".join([file, *rest]))
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


# labels.csv


def test_read_labels_keeps_order_and_defaults_framing_to_tight(tmp_path):
    (tmp_path / "labels.csv").write_text("\ufefffile,number,framing,source\na.jpg,0311,loose,x\nb.png,7,,y\n")
    assert read_labels(tmp_path) == [Photo("a.jpg", "0311", "loose"), Photo("b.png", "7", "tight")]
    (tmp_path / "labels.csv").write_text("number,file\n12,c.png\n")
    assert read_labels(tmp_path) == [Photo("c.png", "12", "tight")]


@pytest.mark.parametrize("text, message", [
    (None, r"labels.csv: no such file"),
    ("file,framing\na.png,tight\n", r"no 'number' column \(its columns: file, framing\)"),
    ("name,number\na.png,12\n", r"no 'file' column"),
    ("file,number\na.png,12\nb.png,12a\n", r"line 3: number '12a' of b.png is not digits"),
    ("file,number\na.png,\n", r"line 2: number '' of a.png is not digits"),
    ("file,number\na.png,１２\n", r"line 2: number '１２' of a.png is not digits"),
    ("file,number,framing\na.png,12,medium\n", r"line 2: framing 'medium' of a.png is not one of tight, loose"),
    ("file,number\n,12\n", r"line 2: empty file name"),
    ("file,number\na.png,1\nb.png,2\na.png,3\n", r"listed more than once: a.png"),
    ("file,number\n", r"lists no photo"),
])
def test_read_labels_errors_name_the_problem(tmp_path, text, message):
    if text is not None:
        (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(LabelsError, match=message):
        read_labels(tmp_path)


# scoring


def test_scores_by_framing_and_length_with_unreadable_photos_as_misses(tmp_path):
    folder = _folder(tmp_path, [
        ("a.png", "12", "tight"), ("b.png", "345", "tight"), ("c.png", "7", "loose"),
        ("broken.png", "8", "loose", "broken"), ("d.png", "12", "loose"), ("gone.png", "99", "tight", "missing"),
        ("e.png", "3456", "loose"),
    ])
    # a right, b wrong, c right, d rejected (its guess right, but answered ""), e right: the model sees 5 frames.
    outputs = _concatenate(_logits(["12", "346", "7"]), _logits(["12"], digit_strength=2.0), _logits(["3456"]))
    model = ScriptedModel(outputs)
    result = evaluate_photos(model, folder)
    assert model.seen == 5
    assert (result["count"], result["right"], result["unreadable"]) == (7, 3, 2)
    assert result["accuracy"] == pytest.approx(3 / 7)
    assert list(result["by_framing"]) == ["tight", "loose"]
    assert result["by_framing"]["tight"] == {"count": 3, "right": 1, "accuracy": pytest.approx(1 / 3)}
    assert result["by_framing"]["loose"] == {"count": 4, "right": 2, "accuracy": 0.5}
    assert {n: (t["count"], t["right"]) for n, t in result["by_length"].items()} == {
        1: (2, 1), 2: (3, 1), 3: (1, 0), 4: (1, 1)}
    rows = {row["file"]: row for row in result["photos"]}
    assert rows["d.png"]["number"] == "" and rows["d.png"]["rejected"] == "12" and not rows["d.png"]["right"]
    assert "not a readable image" in rows["broken.png"]["error"] and rows["broken.png"]["number"] is None
    assert "no such file" in rows["gone.png"]["error"]
    assert [row["file"] for row in misses(result)] == ["b.png", "broken.png", "d.png", "gone.png"]


def test_report_writes_every_reading_and_a_contact_sheet_of_the_misses(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "all_right").mkdir()
    folder = _folder(tmp_path / "photos", [
        ("a.png", "12", "tight"), ("b.png", "345", "loose"), ("broken.png", "8", "loose", "broken"),
    ])
    result = evaluate_photos(ScriptedModel(_logits(["12", "346"])), folder)
    sheet, readings = write_report(result, tmp_path / "out")
    with Image.open(sheet) as image:
        assert image.format == "PNG" and image.size[0] > 500
    saved = json.loads((tmp_path / "out" / "readings.json").read_text())
    assert str(readings).endswith("readings.json")
    assert [(r["file"], r["number"], r["right"]) for r in saved["photos"]] == [
        ("a.png", "12", True), ("b.png", "346", False), ("broken.png", None, False)]
    right = evaluate_photos(ScriptedModel(_logits(["12", "345"])), _folder(tmp_path / "all_right", [
        ("a.png", "12", "tight"), ("b.png", "345", "loose")]))
    assert write_report(right, tmp_path / "none")[0] is None  # nothing missed: no sheet
    assert not (tmp_path / "none" / "misses.png").exists()


# the command line on synthetic photos


@pytest.fixture(scope="module")
def street_photos(tmp_path_factory):
    """Six synthetic street scenes as PNGs, a broken file, and labels.csv without a framing column."""
    folder = tmp_path_factory.mktemp("street")
    lines = ["file,number"]
    for i in range(6):
        image, number, _ = render_scene(i, seed=11, purpose="test")
        Image.fromarray(image).save(folder / f"scene{i}.png")
        lines.append(f"scene{i}.png,{number}")
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    lines.append("broken.png,42")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_cli_evaluate_photos_reads_as_read_numbers_does(street_photos, tmp_path, capsys):
    assert main(["evaluate", "--photos", str(street_photos), "--out", str(tmp_path), "--json"]) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("kerasvhn: error:")]
    assert len(errors) == 1 and "broken.png" in errors[0] and "Traceback" not in captured.err
    report = json.loads(captured.out.strip().splitlines()[-1])
    assert (report["count"], report["unreadable"], report["tta_views"], report["adapted_on"]) == (7, 1, 0, 0)
    assert report["by_framing"]["tight"]["count"] == 7
    assert report["misses"][-1]["error"] is not None and report["contact_sheet"].endswith("misses.png")
    rows = json.loads((tmp_path / "readings.json").read_text())["photos"][:6]
    expected = kerasvhn.read_numbers([street_photos / row["file"] for row in rows])
    assert [row["number"] for row in rows] == [r.number for r in expected]
    np.testing.assert_allclose([row["confidence"] for row in rows], [r.confidence for r in expected], rtol=1e-4)
    assert report["right"] == sum(row["number"] == row["truth"] for row in rows) >= 1
    assert (tmp_path / "misses.png").stat().st_size > 0


def test_cli_evaluate_photos_text_with_tta_and_adabn(street_photos, tmp_path, capsys):
    assert main(["evaluate", "--photos", str(street_photos), "--out", str(tmp_path), "--tta", "--adapt-bn"]) == 1
    out = capsys.readouterr().out
    assert "test-time augmentation over 6 views, AdaBN on 6 images" in out
    assert "by framing: tight " in out and "broken.png" in out and "unreadable" in out
    assert f"contact sheet of the misses: {tmp_path / 'misses.png'}" in out


def test_photo_options_need_photos(capsys):
    assert main(["evaluate", "--synthetic", "4", "--tta"]) == 1
    assert "--tta applies to --photos only" in capsys.readouterr().err


# test-time augmentation


def test_tta_views_are_read_numbers_frame_then_training_crops_then_the_whole_photo():
    rng = np.random.default_rng(3)
    image = load_image(rng.integers(0, 256, size=(70, 150, 3), dtype=np.uint8))
    views = tta_views(image)
    pixels = frame_pixels(image).astype(np.float32) / 255
    assert views.shape == (TTA_VIEWS, 54, 54, 3) == (6, 54, 54, 3)
    np.testing.assert_array_equal(views[0], frame(image))
    np.testing.assert_array_equal(views[1], pixels[:54, :54])
    np.testing.assert_array_equal(views[4], pixels[10:, 10:])
    np.testing.assert_array_equal(views[5], frame_pixels(image, size=54).astype(np.float32) / 255)


def test_tta_averages_each_heads_probabilities_over_the_views():
    # Image 0: six identical views; image 1: its first view (read_numbers') reads "17", the five others "71".
    same = _logits(["305"] * 6, strength=3.0)
    mixed = _concatenate(_logits(["17"], strength=4.0), _logits(["71"] * 5, strength=3.0))
    outputs = _concatenate(same, mixed)
    readings = read_with_tta(ScriptedModel(outputs), np.zeros((2, 6, 54, 54, 3), np.float32), min_confidence=0.0)
    alone = readings_of(_logits(["305"], strength=3.0), min_confidence=0.0)[0]
    assert readings[0].number == "305" and readings[0].confidence == pytest.approx(alone.confidence, rel=1e-5)
    assert readings_of(_logits(["17"], strength=4.0), min_confidence=0.0)[0].number == "17"
    assert readings[1].number == "71"

    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    p_length = softmax(mixed["length"].astype(np.float64)).mean(axis=0)
    p_digits = softmax(mixed["digits"].astype(np.float64)).mean(axis=0)
    assert readings[1].confidence == pytest.approx(p_length[2] * p_digits[0, 7] * p_digits[1, 1], rel=1e-4)


def test_tta_leaves_the_model_unchanged():
    model = kerasvhn.MultiDigitNet("small")
    before = [w.copy() for w in model.get_weights()]
    views = np.random.default_rng(4).random((3, TTA_VIEWS, 54, 54, 3)).astype(np.float32)
    assert len(read_with_tta(model, views)) == 3
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


# AdaBN


def _frames(count=12, seed=5):
    return np.stack([frame(load_image(render_scene(i, seed=seed, purpose="test")[0])) for i in range(count)])


def _moving_statistics(model):
    return [keras.ops.convert_to_numpy(v) for layer in model.layers if isinstance(layer, ConvBNReLU)
            for v in (layer.moving_mean, layer.moving_variance)]


def test_adabn_statistics_are_those_of_all_the_photos_in_one_batch():
    """Every layer's adapted statistics are the statistics of the whole set, with the
    layers below already adapted: the copy in inference mode then computes exactly what
    it computes in training mode on all the photos as one batch."""
    model = kerasvhn.MultiDigitNet("small", conv_dropout=0.0, dense_dropout=0.0)
    frames = _frames()
    adapted = adapt_batchnorm(model, frames, batch_size=5)
    inference = adapted(frames, training=False)
    one_batch = adapted(frames, training=True)
    for key in ("length", "digits"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(inference[key]),
                                   keras.ops.convert_to_numpy(one_batch[key]), rtol=1e-3, atol=1e-3)


def test_adabn_changes_only_the_copys_moving_statistics_and_ignores_dropout():
    model = kerasvhn.MultiDigitNet("small")  # with dropout
    before = [w.copy() for w in model.get_weights()]
    frames = _frames()
    adapted = adapt_batchnorm(model, frames)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)  # the original is untouched
    for old, new in zip(model.trainable_weights, adapted.trainable_weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(old), keras.ops.convert_to_numpy(new))
    changed = [not np.allclose(a, b) for a, b in zip(_moving_statistics(model), _moving_statistics(adapted))]
    assert all(changed) and len(changed) == 10
    twin = kerasvhn.MultiDigitNet("small", conv_dropout=0.0, dense_dropout=0.0)
    twin.set_weights(model.get_weights())
    for with_dropout, without in zip(_moving_statistics(adapted), _moving_statistics(adapt_batchnorm(twin, frames))):
        np.testing.assert_allclose(with_dropout, without, rtol=1e-5, atol=1e-6)


def test_evaluate_photos_adapt_bn_reads_with_the_adapted_copy(street_photos):
    model = kerasvhn.MultiDigitNet.from_preset("small_synthetic")
    before = _moving_statistics(model)
    result = evaluate_photos(model, street_photos, adapt_bn=True, min_confidence=0.0)
    images = [load_image(street_photos / f"scene{i}.png") for i in range(6)]
    frames = np.stack([frame(image) for image in images])
    expected = kerasvhn.read_numbers(images, model=adapt_batchnorm(model, frames), min_confidence=0.0,
                                     locate=False)
    assert result["adapted_on"] == 6
    assert [row["number"] for row in result["photos"][:6]] == [r.number for r in expected]
    for old, new in zip(before, _moving_statistics(model)):
        np.testing.assert_array_equal(old, new)


def test_adapt_bn_on_another_folder_uses_every_readable_image_in_it(tmp_path, street_photos):
    other = _folder(tmp_path, [("x.png", "1"), ("y.jpg.png", "2"), ("z.png", "3", "broken")])
    (other / "notes.txt").write_text("not a photo")
    assert len(folder_images(other)) == 2
    model = kerasvhn.MultiDigitNet("small")
    result = evaluate_photos(model, street_photos, adapt_bn=other)
    assert result["adapted_on"] == 2 and result["count"] == 7
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no readable image"):
        folder_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        folder_images(tmp_path / "nowhere")


# two stages: a locator, then the reader


class _WholePhotoBox:
    """A stand-in locator that boxes the middle of every photo (and counts its calls)."""

    def __init__(self):
        self.calls = 0

    def locate(self, images, min_score=None, max_boxes=10):
        from kerasvhn.locator import Box

        self.calls += 1
        return [[Box(image.size[0] * 0.2, image.size[1] * 0.2, image.size[0] * 0.6, image.size[1] * 0.6, 0.7)]
                for image in images]


def test_evaluate_photos_with_a_locator_scores_both_stages(street_photos):
    shipped = kerasvhn.MultiDigitNet.from_preset("small_synthetic")
    plain = evaluate_photos(shipped, street_photos)
    located = evaluate_photos(shipped, street_photos, locator=_WholePhotoBox())
    assert plain["located"] is False and plain["one_stage"] is None
    assert located["located"] is True and located["count"] == plain["count"] == 7
    assert located["one_stage"]["right"] == plain["right"]
    assert [row["one_stage_number"] for row in located["photos"]] == [row["number"] for row in plain["photos"]]
    readable = [row for row in located["photos"] if row["error"] is None]
    assert all(row["box"] is None or len(row["box"]) == 4 for row in readable)
    assert evaluate_photos(shipped, street_photos, tta=True, locator=_WholePhotoBox())["located"] is False


def test_cli_evaluate_photos_reports_two_stages_and_one(street_photos, tmp_path, capsys, monkeypatch):
    import kerasvhn.locator

    monkeypatch.setattr(kerasvhn.locator, "load_locator", lambda name=None: _WholePhotoBox())
    assert main(["evaluate", "--photos", str(street_photos), "--out", str(tmp_path), "--locator", "x"]) == 1
    out = capsys.readouterr().out
    assert "read in two stages (locate, then read the best box)" in out and "read whole (one stage) instead: all" in out
    assert main(["evaluate", "--photos", str(street_photos), "--out", str(tmp_path), "--locator", "x", "--json"]) == 1
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["located"] is True and report["one_stage"]["count"] == 7
    assert main(["evaluate", "--photos", str(street_photos), "--locator", "x", "--no-locate"]) == 1
    assert "contradict" in capsys.readouterr().err
