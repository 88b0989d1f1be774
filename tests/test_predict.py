"""Reading numbers: framing, read_numbers, the shipped model, `kerasvhn predict`."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kerasvhn
from kerasvhn.cli import main
from kerasvhn.data import render_numbers, synthesize
from kerasvhn.data.preparation import _prepare_one
from kerasvhn.framing import frame
from kerasvhn.predict import Reading, load_image, read_frames, read_numbers, readings_of
from kerasvhn.presets import LOCATED_SEEDS, PRETRAINED, pretrained_weights_path
from scripted_model import FixedBoxes, ScriptedModel

FIXTURE = Path(__file__).resolve().parent / "data" / "svhn-train-sample"


@pytest.fixture(scope="module")
def shipped():
    return kerasvhn.MultiDigitNet.from_preset("small_synthetic")


@pytest.fixture(scope="module")
def untrained():
    return kerasvhn.MultiDigitNet("small")


def test_shipped_weights_are_small_and_in_the_package():
    """The reader's weights within 25 MB, the reader's and the locator's within 30 MB."""
    from kerasvhn.locator_presets import pretrained_locator_path

    path = pretrained_weights_path("small_synthetic")
    assert os.path.getsize(path) <= 25 * 1000 * 1000
    assert os.path.getsize(path) + os.path.getsize(pretrained_locator_path("locator_synthetic")) <= 30 * 1000 * 1000
    assert Path(path).parent.parent == Path(kerasvhn.__file__).parent
    assert "kerasvhn train" in PRETRAINED["small_synthetic"]["recipe"]


def test_the_shipped_recipe_is_commands_the_cli_takes():
    import shlex

    from kerasvhn.cli import build_parser

    commands = PRETRAINED["small_synthetic"]["recipe"].split(" && ")
    parsed = [build_parser().parse_args(shlex.split(command)[2:]) for command in commands]
    assert all(command.startswith("KERAS_BACKEND=tensorflow kerasvhn train ") for command in commands)
    assert str(parsed[-1].out) == "small_synthetic.weights.h5"
    for earlier, later in zip(parsed, parsed[1:]):  # each stage starts from the one before
        assert str(later.initial_weights or later.widen_from) == str(earlier.out)
    located = [args for args in parsed if args.located_photos]
    assert [args.seed for args in located] == list(LOCATED_SEEDS)
    streams = PRETRAINED["small_synthetic"]["training_streams"]
    for args in located:  # every stream drawn is recorded, so evaluations can refuse it
        assert {"purpose": "train", "seed": args.seed, "split": "train", "count": 17_500,
                "generator": "photo_scenes-2", "located": [16_000, 1_500]} in streams
        assert any(s["purpose"] == "train" and s["seed"] == args.seed and s.get("count") == args.count
                   and s.get("generator") == 2 for s in streams)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="small_synthetic"):
        kerasvhn.MultiDigitNet.from_preset("tiny_real")


def test_frame_is_the_whole_image_resized_then_centre_cropped():
    """On ramps (red rising along x, green along y) a resize without keeping the
    aspect ratio keeps them linear: frame pixel (row, col) must hold the ramps' value
    at the photo point that the 64x64 resize puts at (row + 5, col + 5)."""
    height, width = 37, 150
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    photo = np.stack([x * 1.7, y * 6.5, np.full_like(x, 100.0)], axis=-1).round().astype(np.uint8)
    framed = frame(load_image(photo)) * 255
    centres = np.arange(5, 59) + 0.5  # output pixel centres of the centred 54x54 window in the 64x64 frame
    expected_red = (centres * width / 64 - 0.5) * 1.7
    expected_green = (centres * height / 64 - 0.5) * 6.5
    np.testing.assert_allclose(framed[0, :, 0], expected_red, atol=1.0)
    np.testing.assert_allclose(framed[:, 0, 1], expected_green, atol=1.0)
    assert np.ptp(framed[:, :, 0], axis=0).max() <= 1 and np.ptp(framed[:, :, 1], axis=1).max() <= 1
    np.testing.assert_allclose(framed[..., 2], 100, atol=0.5)


def test_frame_with_boxes_crops_as_prepare_does(tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, size=(90, 160, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    record = {"name": "a.png", "label": [1.0, 2.0], "left": [40.0, 60.0], "top": [20.0, 22.0],
              "width": [18.0, 19.0], "height": [40.0, 41.0]}
    prepared, problem = _prepare_one((str(tmp_path), record))
    assert problem is None
    np.testing.assert_allclose(frame(load_image(tmp_path / "a.png"), record),
                               prepared[5:59, 5:59].astype(np.float32) / 255, atol=1e-6)


def test_read_numbers_accepts_paths_arrays_and_pil_images_of_any_shape(tmp_path, untrained):
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, size=(20, 200), dtype=np.uint8)).save(tmp_path / "grey.png")
    inputs = [
        tmp_path / "grey.png",
        str(tmp_path / "grey.png"),
        rng.integers(0, 256, size=(300, 40, 3), dtype=np.uint8),
        rng.random((64, 64, 3)),
        Image.new("RGBA", (33, 77), (10, 200, 30, 255)),
    ]
    readings = read_numbers(inputs, model=untrained)
    assert len(readings) == len(inputs)
    for reading in readings:
        assert isinstance(reading, Reading)
        assert reading.number == "" or reading.number.isdigit()
        assert 0.0 <= reading.confidence <= 1.0
    assert readings[0].number == readings[1].number
    assert readings[0].confidence == pytest.approx(readings[1].confidence, abs=1e-5)
    one = read_numbers(inputs[2], model=untrained)  # one image, alone in its batch
    assert len(one) == 1 and one[0].number == readings[2].number
    assert one[0].confidence == pytest.approx(readings[2].confidence, abs=1e-5)


def test_read_numbers_bad_inputs(tmp_path, untrained):
    (tmp_path / "not.png").write_text("hello")
    with pytest.raises(ValueError, match="not a readable image"):
        read_numbers([tmp_path / "not.png"], model=untrained)
    with pytest.raises(ValueError, match="no such file"):
        read_numbers([tmp_path / "missing.png"], model=untrained)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        read_numbers([np.full((10, 10, 3), 3.0)], model=untrained)
    with pytest.raises(ValueError, match="records for"):
        read_numbers([np.zeros((10, 10, 3), np.uint8)], model=untrained, records=[None, None])


def test_shipped_model_reads_unseen_synthetic_numbers(shipped):
    """Loaded on this backend, the shipped weights read held-out fonts and
    backgrounds (a broken load reads nothing)."""
    images, labels = render_numbers(200, seed=123, split="held_out", purpose="train")
    readings = read_numbers(images, model=shipped, min_confidence=0.0)
    truth = kerasvhn.labels_to_numbers(labels)
    accuracy = np.mean([r.number == t for r, t in zip(readings, truth)])
    assert accuracy > 0.75, accuracy


def test_blank_walls_read_as_no_number(shipped):
    rng = np.random.default_rng(3)
    blanks = [
        np.full((90, 140, 3), 205, np.uint8),
        np.full((60, 60, 3), (120, 60, 40), np.uint8),
        np.clip(rng.normal(128, 25, (80, 120, 3)), 0, 255).astype(np.uint8),
        np.tile(np.linspace(40, 220, 100, dtype=np.uint8)[None, :, None], (70, 1, 3)),
    ]
    for reading in read_numbers(blanks, model=shipped):
        assert reading.number == "" and reading.confidence > 0.5  # confident there is no number


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenes")
    records = synthesize(out, 12, seed=77, split="held_out", workers=1, progress=False, purpose="train")
    return out, records


def test_predict_json_lines(scenes, capsys):
    out, records = scenes
    paths = [str(out / r["name"]) for r in records]
    assert main(["predict", *paths, "--json", "--digitstruct", str(out / "digitStruct.mat")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(paths)
    rows = [json.loads(line) for line in lines]
    assert [row["file"] for row in rows] == paths
    for row in rows:
        assert {"file", "number", "confidence"} <= set(row) <= {"file", "number", "confidence", "rejected",
                                                                "rejected_confidence"}
        assert isinstance(row["number"], str) and re.fullmatch(r"\d{0,5}|\d{5}\+", row["number"])  # "12345+": 6+ digits
        assert 0.0 <= row["confidence"] <= 1.0
    truth = ["".join(str(int(x) % 10) for x in r["label"]) for r in records]
    right = sum(row["number"] == t for row, t in zip(rows, truth))
    assert right >= len(rows) // 2, (rows, truth)


def test_predict_plain_output_and_errors(scenes, tmp_path, capsys):
    out, records = scenes
    first = str(out / records[0]["name"])
    assert main(["predict", first, str(tmp_path / "missing.png")]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(first + "\t") and len(captured.out.splitlines()) == 1
    assert "missing.png: no such file" in captured.err
    Image.new("RGB", (30, 30)).save(tmp_path / "other.png")
    assert main(["predict", str(tmp_path / "other.png"), "--digitstruct", str(out / "digitStruct.mat")]) == 1
    assert "no entry named 'other.png'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", first, "--min-confidence", "2"])
    assert "between 0 and 1" in capsys.readouterr().err


def test_shipped_model_on_the_real_fixture_images(shipped, capsys):
    """The three real SVHN train images (tests/data), cropped by their boxes: the
    shipped model reads all three right."""
    paths = [str(FIXTURE / f"{i}.png") for i in (1, 2, 3)]
    expected = {row["name"]: "".join(str(int(label) % 10) for label in row["label"])
                for row in map(json.loads, (FIXTURE / "expected.jsonl").read_text().splitlines())}
    assert main(["predict", *paths, "--json", "--digitstruct", str(FIXTURE / "digitStruct.mat")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["file"] for row in rows] == paths
    assert [row["number"] for row in rows] == [expected[f"{i}.png"] for i in (1, 2, 3)] == ["19", "23", "25"]
    assert all(row["confidence"] > 0.5 for row in rows), rows


# ----------------------------------------------------------------------------- one reading path


def _outputs(rng, count=400, max_digits=5):
    """Random logits whose paper-rule readings cover every length, "more" included."""
    length = rng.normal(0, 3, size=(count, max_digits + 2))
    length[np.arange(count), np.arange(count) % (max_digits + 2)] += 8
    digits = rng.normal(0, 3, size=(count, max_digits, 10))
    return {"length": length.astype(np.float32), "digits": digits.astype(np.float32)}


def test_read_frames_and_decode_agree_on_every_length():
    outputs = _outputs(np.random.default_rng(4))
    numbers, confidences = kerasvhn.decode(outputs)
    readings = read_frames(ScriptedModel(outputs), np.zeros((400, 54, 54, 3), np.float32), batch_size=64,
                           min_confidence=0.0)
    assert [r.number for r in readings] == numbers
    np.testing.assert_allclose([r.confidence for r in readings], confidences, rtol=1e-5)
    lengths = {len(n.rstrip("+")) + n.endswith("+") for n in numbers}
    assert lengths == {0, 1, 2, 3, 4, 5, 6} and any(n.endswith("+") for n in numbers)


def test_confidence_is_the_probability_that_the_answer_is_right():
    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    outputs = _outputs(np.random.default_rng(5), count=60)
    p_length, p_digits = softmax(outputs["length"].astype(np.float64)), softmax(outputs["digits"].astype(np.float64))
    for index, reading in enumerate(readings_of(outputs, min_confidence=0.0)):
        shown = reading.number.rstrip("+")
        length = 6 if reading.number.endswith("+") else len(shown)
        expected = p_length[index, length] * np.prod([p_digits[index, i, int(d)] for i, d in enumerate(shown)])
        assert reading.confidence == pytest.approx(expected, rel=1e-4), reading  # "" -> P(no number)
        assert reading.rejected is None


def test_a_rejected_reading_answers_no_number_and_keeps_its_guess():
    outputs = _outputs(np.random.default_rng(6), count=60)
    kept = readings_of(outputs, min_confidence=0.0)
    strict = readings_of(outputs, min_confidence=1.0)
    length_p = np.exp(outputs["length"] - outputs["length"].max(axis=1, keepdims=True))
    p_none = length_p[:, 0] / length_p.sum(axis=1)
    for index, (before, after) in enumerate(zip(kept, strict)):
        assert after.number == ""
        assert after.confidence == pytest.approx(p_none[index], rel=1e-5)
        if before.number:
            assert (after.rejected, after.rejected_confidence) == (before.number, pytest.approx(before.confidence))
        else:
            assert after.rejected is None


# ----------------------------------------------------------------------------- photos as phones and tools write them


def _scene(seed):
    image, number, _ = kerasvhn.data.render_scene(0, seed=seed, purpose="test")
    return image, number


def _exif_rotated(path, upright):
    """Saves `upright` stored turned 90 degrees, with the EXIF orientation (6: rotate
    90 clockwise to view) that turns it back, as a phone does."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90).save(path, exif=exif)


def test_exif_orientation_is_applied(tmp_path):
    upright, _ = _scene(11)
    _exif_rotated(tmp_path / "phone.png", upright)
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "phone.png")), upright)
    _exif_rotated(tmp_path / "phone.jpg", upright)
    assert np.abs(np.asarray(load_image(tmp_path / "phone.jpg"), float) - upright).mean() < 8


def test_16_bit_and_palette_images_keep_their_contrast(tmp_path):
    grey = np.asarray(Image.fromarray(_scene(12)[0]).convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as check:
        assert check.mode.startswith("I")  # really a 16-bit file
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "deep.png"))[..., 0], grey)
    # Transparent pixels lie on white, in RGBA and in palette files alike.
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[10:30, 20:40] = (20, 20, 20, 255)
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    Image.fromarray(rgba).convert("P").save(tmp_path / "palette.png", transparency=0)
    for name in ("clear.png", "palette.png"):
        pixels = np.asarray(load_image(tmp_path / name))
        assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[20, 30].tolist() == [20, 20, 20], name


def _bomb(path, side=30_000):
    """A PNG that declares side x side pixels (its data is never decoded)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def test_a_mixed_batch_through_the_command_line(tmp_path, shipped, capsys):
    """Good files are read (EXIF, 16-bit, palette as their plain twins), each bad one
    is one error line, and the status says something failed."""
    upright, _ = _scene(13)
    Image.fromarray(upright).save(tmp_path / "upright.png")
    _exif_rotated(tmp_path / "phone.png", upright)
    grey = Image.fromarray(upright).convert("L")
    grey.convert("RGB").save(tmp_path / "grey.png")
    Image.fromarray(np.asarray(grey).astype(np.uint16) * 257).save(tmp_path / "deep.png")
    Image.fromarray(upright).quantize(64).save(tmp_path / "palette.png")
    Image.fromarray(upright).quantize(64).convert("RGB").save(tmp_path / "palette_rgb.png")
    _bomb(tmp_path / "bomb.png")
    (tmp_path / "notes.png").write_text("not an image")
    names = ["upright", "phone", "bomb", "grey", "deep", "notes", "palette", "palette_rgb"]
    status = main(["predict", *[str(tmp_path / f"{n}.png") for n in names], "--json", "--min-confidence", "0"])
    captured = capsys.readouterr()
    assert status == 1
    rows = {Path(row["file"]).stem: row for row in map(json.loads, captured.out.splitlines())}
    assert sorted(rows) == sorted(set(names) - {"bomb", "notes"})
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in captured.err
    assert "bomb.png: too large to read safely" in errors[0] and "notes.png: not a readable image" in errors[1]
    for twin, plain in (("phone", "upright"), ("deep", "grey"), ("palette", "palette_rgb")):
        assert rows[twin]["number"] == rows[plain]["number"], (twin, rows[twin], rows[plain])
        assert rows[twin]["confidence"] == pytest.approx(rows[plain]["confidence"], abs=1e-3)


# ----------------------------------------------------------------------------- two stages: locate, then read


def _street(seeds=(21, 34), size=(900, 640), places=((120, 90), (560, 400))):
    """A whole photo: a plain noisy wall with synthetic number scenes pasted at known
    places. Returns (photo uint8, [(number, its digits' union box (left, top, width,
    height), the scene, its digitStruct record)])."""
    from kerasvhn.locator import Box

    rng = np.random.default_rng(9)
    photo = np.clip(rng.normal((150, 140, 120), 12, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    numbers = []
    for seed, (x, y) in zip(seeds, places):
        scene, number, boxes = kerasvhn.data.render_scene(0, seed=seed, purpose="test")
        photo[y : y + scene.shape[0], x : x + scene.shape[1]] = scene
        record = {key: [b[k] for b in boxes] for k, key in enumerate(("left", "top", "width", "height"))}
        left, top = min(record["left"]), min(record["top"])
        right = max(b[0] + b[2] for b in boxes)
        bottom = max(b[1] + b[3] for b in boxes)
        numbers.append((number, Box(x + left, y + top, right - left, bottom - top, 0.9), scene, record))
    return photo, numbers


def test_two_stages_read_a_located_box_as_its_digit_boxes_would_crop_it(shipped):
    """The box is cropped with the paper's 30% margin: the same pixels, and so the same
    reading, as the scene cropped by its own digit boxes; the box comes back as given."""
    photo, numbers = _street()
    number, box, scene, record = numbers[0]
    expected = read_numbers([scene], model=shipped, records=[record])[0]
    assert expected.number == number == "850"
    (reading,) = read_numbers([photo], model=shipped, locator=FixedBoxes(box))
    assert reading.number == expected.number and reading.confidence == pytest.approx(expected.confidence, abs=1e-5)
    assert reading.box == pytest.approx(tuple(box[:4])) and reading.box_score == pytest.approx(0.9)
    whole = read_numbers([photo], model=shipped, locate=False)[0]
    assert whole.box is None and whole.box_score is None


def test_read_numbers_every_lists_each_number_found(shipped):
    photo, numbers = _street()
    (found,) = read_numbers([photo], model=shipped, locator=FixedBoxes(*[n[1] for n in numbers]), every=True)
    assert sorted(r.number for r in found) == sorted(n[0] for n in numbers) == ["121", "850"]
    assert [r.confidence for r in found] == sorted((r.confidence for r in found), reverse=True)
    by_number = {r.number: r.box for r in found}
    for number, box, _, _ in numbers:
        assert by_number[number] == pytest.approx(tuple(box[:4]))
    with pytest.raises(ValueError, match="records give the numbers' boxes"):
        read_numbers([photo], model=shipped, records=[None], locate=True)


def _logits_for(readings, max_digits=5):
    """Logits that read each (number, strength): larger strength, higher confidence."""
    length = np.zeros((len(readings), max_digits + 2), np.float32)
    digits = np.zeros((len(readings), max_digits, 10), np.float32)
    for i, (number, strength) in enumerate(readings):
        length[i, len(number)] = strength
        for k, digit in enumerate(number):
            digits[i, k, int(digit)] = strength
    return {"length": length, "digits": digits}


def test_a_confident_whole_frame_reading_is_the_answer_before_any_box():
    """The whole frame is read first: a number read there at WHOLE_FRAME_CONFIDENCE or
    more is the answer (such a photo is located only when every number is asked for); a
    less probable one gives way to the best box; with no number in any box, the whole
    frame's reading is the answer."""
    from kerasvhn.locator import Box
    from kerasvhn.predict import MIN_CONFIDENCE, WHOLE_FRAME_CONFIDENCE, read_photos_located

    photo = Image.new("RGB", (100, 80), (200, 200, 200))
    box = Box(40, 30, 10, 8, 0.7)
    where = (40.0, 30.0, 10.0, 8.0)
    locator = FixedBoxes(box)
    (answer,) = read_photos_located(ScriptedModel(_logits_for([("12", 9.0), ("17", 9.0)])), locator, [photo],
                                    every=False)
    assert [(r.number, r.box) for r in answer] == [("12", None)] and locator.calls == 0
    (answer,) = read_photos_located(ScriptedModel(_logits_for([("12", 9.0), ("17", 3.0)])), locator, [photo])
    assert [(r.number, r.box) for r in answer] == [("12", None), ("17", where)] and locator.calls == 1
    unsure = _logits_for([("12", 3.2)])
    assert MIN_CONFIDENCE < kerasvhn.decode(unsure).confidences[0] < WHOLE_FRAME_CONFIDENCE
    (answer,) = read_photos_located(ScriptedModel(_logits_for([("12", 3.2), ("17", 3.0)])), FixedBoxes(box), [photo],
                                    every=False)
    assert [(r.number, r.box) for r in answer] == [("17", where)]
    (answer,) = read_photos_located(ScriptedModel(_logits_for([("5", 3.2), ("", 9.0)])), FixedBoxes(box), [photo])
    assert [(r.number, r.box) for r in answer] == [("5", None)]


def test_a_box_reading_is_ranked_by_its_confidence_times_the_box_score():
    """Of the numbers read in boxes, the answer is the one whose confidence times its box's
    score is highest: a sure reading in a doubtful box gives way to a fairly sure one in a
    sure box (chosen on synthetic validation photos, reports/ only)."""
    from kerasvhn.locator import Box
    from kerasvhn.predict import read_photos_located

    photo = Image.new("RGB", (100, 80), (200, 200, 200))
    sure_box, doubtful_box = Box(10, 10, 30, 20, 0.9), Box(50, 40, 30, 20, 0.31)
    logits = _logits_for([("", 1.0), ("17", 3.0), ("44", 5.0)])  # whole frame, then each box
    chances = kerasvhn.decode(logits).confidences
    assert chances[2] > chances[1] and chances[1] * 0.9 > chances[2] * 0.31
    (answer,) = read_photos_located(ScriptedModel(logits), FixedBoxes(sure_box, doubtful_box), [photo])
    assert [r.number for r in answer] == ["17", "44"]
    assert answer[0].confidence == pytest.approx(float(chances[1]), abs=1e-5)  # the reading's own probability
    # A less sure first box: now the surer reading wins.
    assert chances[1] * 0.5 < chances[2] * 0.31
    (answer,) = read_photos_located(ScriptedModel(logits), FixedBoxes(Box(10, 10, 30, 20, 0.5), doubtful_box), [photo])
    assert [r.number for r in answer] == ["44", "17"]


@pytest.fixture
def street_file(tmp_path, monkeypatch):
    """The street photo on disk, and `kerasvhn.locator.load_locator` answering a stand-in
    that finds both numbers."""
    import kerasvhn.locator

    photo, numbers = _street()
    Image.fromarray(photo).save(tmp_path / "street.png")
    monkeypatch.setattr(kerasvhn.locator, "load_locator", lambda name=None: FixedBoxes(*[n[1] for n in numbers]))
    return tmp_path / "street.png", numbers


def test_predict_json_adds_the_box_and_all_lists_every_number(street_file, capsys):
    path, numbers = street_file
    assert main(["predict", str(path), "--json", "--locator", "stand-in"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["number"] in ("850", "121") and len(row["box"]) == 4 and 0 < row["box_score"] <= 1
    assert main(["predict", str(path), "--json", "--locator", "stand-in", "--all"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["number"] for r in rows) == ["121", "850"]
    for number, box, _, _ in numbers:
        (found,) = [r for r in rows if r["number"] == number]
        assert found["box"] == pytest.approx([round(v, 1) for v in box[:4]])
    assert main(["predict", str(path), "--json", "--no-locate"]) == 0
    (whole,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert whole["box"] is None and "box_score" not in whole


def test_predict_annotate_draws_each_box_on_the_photo(street_file, tmp_path, capsys):
    path, numbers = street_file
    out = tmp_path / "drawn"
    assert main(["predict", str(path), "--locator", "stand-in", "--all", "--annotate", str(out)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    with Image.open(out / "street.png") as drawn:
        assert drawn.size == (900, 640)
        corners = [drawn.getpixel((int(box.left), int(box.top))) for _, box, _, _ in numbers]
    assert sorted(corners) == sorted([(40, 220, 60), (240, 200, 40)])  # the best in green, the other yellow


def test_blank_photos_answer_nothing_and_no_box(shipped, tiny_locator):
    blanks = [np.full((300, 400, 3), 205, np.uint8),
              np.clip(np.random.default_rng(3).normal(128, 25, (500, 380, 3)), 0, 255).astype(np.uint8)]
    for locator in (FixedBoxes(), tiny_locator):
        for reading in read_numbers(blanks, model=shipped, locator=locator):
            assert reading.number == "" and reading.box is None and reading.confidence > 0.5


@pytest.fixture(scope="module")
def tiny_locator():
    """An untrained locator that finds nothing at a high least score."""
    return kerasvhn.NumberLocator("locator_tiny", min_score=0.95)


def _street_sign():
    """A photo of a street-name sign on a brick wall: letters, no number; and the sign's box."""
    from PIL import ImageDraw, ImageFont

    from kerasvhn.locator import Box

    rng = np.random.default_rng(4)
    wall = np.full((480, 640, 3), (150, 70, 50), np.uint8)
    wall[::24] = (200, 190, 180)
    wall = np.clip(wall + rng.normal(0, 8, wall.shape), 0, 255).astype(np.uint8)
    photo = Image.fromarray(wall)
    draw = ImageDraw.Draw(photo)
    draw.rounded_rectangle((150, 180, 500, 270), radius=12, fill=(20, 90, 40), outline=(240, 240, 240), width=5)
    draw.text((180, 195), "ELM ST", font=ImageFont.load_default(size=60), fill=(245, 245, 245))
    return photo, Box(170.0, 195.0, 310.0, 60.0, 0.6)


def test_a_street_sign_is_not_read_as_a_house_number(shipped):
    """Even when a locator boxes the sign, its letters read as no number, and the photo
    answers "" without a box."""
    photo, sign = _street_sign()
    (reading,) = read_numbers([photo], model=shipped, locator=FixedBoxes(sign))
    assert reading.number == "" and reading.box is None


@pytest.mark.skipif(not __import__("kerasvhn.locator_presets").locator_presets.shipped_locator_available(),
                    reason="the shipped locator's weights are not installed")
def test_the_shipped_locator_finds_no_number_on_a_blank_wall_or_a_street_sign(shipped):
    photo, _ = _street_sign()
    blank = np.full((480, 640, 3), 190, np.uint8)
    for reading in read_numbers([photo, blank], model=shipped, locate=True):
        assert reading.number == "" and reading.box is None


@pytest.mark.skipif(not __import__("kerasvhn.locator_presets").locator_presets.shipped_locator_available(),
                    reason="the shipped locator's weights are not installed")
def test_the_shipped_locator_is_used_by_default_and_not_with_locate_false(shipped, monkeypatch):
    """Two stages are the default with the locator installed; locate=False reads one frame."""
    import kerasvhn.locator as locator_module

    loaded = []
    real_load = locator_module.load_locator
    monkeypatch.setattr(locator_module, "load_locator", lambda *a, **k: loaded.append(a) or real_load(*a, **k))
    photo, _ = _street()
    assert read_numbers([photo], model=shipped, locate=False)[0].box is None and loaded == []
    read_numbers([photo], model=shipped)
    read_numbers([photo], model=shipped, locate=True)
    assert len(loaded) == 2


def test_without_locator_weights_predict_reads_in_one_stage_and_locate_says_how_to_get_them(
        shipped, tmp_path, capsys, monkeypatch):
    from kerasvhn.locator_presets import PRETRAINED_LOCATORS

    monkeypatch.setitem(PRETRAINED_LOCATORS["locator_synthetic"], "weights", "not_installed.weights.h5")
    photo, _ = _street()
    Image.fromarray(photo).save(tmp_path / "street.png")
    assert main(["predict", str(tmp_path / "street.png"), "--json"]) == 0
    (default,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["predict", str(tmp_path / "street.png"), "--json", "--no-locate"]) == 0
    (whole,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert default == whole and default["box"] is None
    assert main(["predict", str(tmp_path / "street.png"), "--locate"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "kerasvhn train_locator" in captured.err and "--locator" in captured.err
    with pytest.raises(FileNotFoundError, match="not in this installation"):
        read_numbers([photo], model=shipped, locate=True)
    assert read_numbers([photo], model=shipped)[0].box is None
