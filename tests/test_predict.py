"""Reading numbers: framing, read_numbers, the shipped model, `kerasvhn predict`."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kerasvhn
from kerasvhn.cli import main
from kerasvhn.data import render_numbers, synthesize
from kerasvhn.data.prepare import _prepare_one
from kerasvhn.predict import Reading, frame, load_image, read_numbers
from kerasvhn.presets import PRETRAINED, pretrained_weights_path

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "svhn-train-sample"


@pytest.fixture(scope="module")
def shipped():
    return kerasvhn.MultiDigitNet.from_preset("small_synthetic")


@pytest.fixture(scope="module")
def untrained():
    return kerasvhn.MultiDigitNet("small")


def test_shipped_weights_are_small_and_in_the_package():
    path = pretrained_weights_path("small_synthetic")
    assert os.path.getsize(path) <= 10 * 1024 * 1024
    assert Path(path).parent.parent == Path(kerasvhn.__file__).parent
    assert "kerasvhn train" in PRETRAINED["small_synthetic"]["recipe"]


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="small_synthetic"):
        kerasvhn.MultiDigitNet.from_preset("tiny_real")


def test_frame_is_the_whole_image_resized_then_centre_cropped():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, size=(37, 150, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(array).resize((64, 64), Image.BILINEAR), np.float32)[5:59, 5:59] / 255
    np.testing.assert_allclose(frame(load_image(array)), expected, atol=1e-6)


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
    images, labels = render_numbers(200, seed=123, split="held_out")
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
    for number, confidence in read_numbers(blanks, model=shipped):
        assert number == "" and confidence < 0.5


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenes")
    records = synthesize(out, 12, seed=77, split="held_out", workers=1, progress=False)
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
        assert set(row) == {"file", "number", "confidence"}
        assert isinstance(row["number"], str) and (row["number"] == "" or row["number"].isdigit())
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


@pytest.mark.skipif(not FIXTURE.is_dir(), reason="the real SVHN fixture is not beside the repository")
def test_shipped_model_on_the_real_fixture_images(shipped, capsys):
    """The three real SVHN train images, cropped by their boxes (printed for the record)."""
    paths = [str(FIXTURE / f"{i}.png") for i in (1, 2, 3)]
    assert main(["predict", *paths, "--json", "--digitstruct", str(FIXTURE / "digitStruct.mat")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["file"] for row in rows] == paths
    with capsys.disabled():
        print("\nshipped model on the real fixture:", [(row["number"], round(row["confidence"], 3)) for row in rows])
