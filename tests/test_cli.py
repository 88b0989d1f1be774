"""The kerasvhn command line: every command once, a tiny demo, bad arguments."""

import json
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

import kerasvhn
from conftest import BACKEND
from kerasvhn.cli import main


def test_info_lists_the_presets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"kerasvhn {kerasvhn.__version__}" in out
    assert f"backend {BACKEND}" in out
    for name in kerasvhn.PRESETS:
        line = next(line for line in out.splitlines() if line.split()[:1] == [name])
        assert "54x54x3" in line
        count = int(re.search(r"([\d,]+) parameters", line).group(1).replace(",", ""))
        assert count > 100_000
    small = next(line for line in out.splitlines() if line.split()[:1] == ["small"])
    assert f"{kerasvhn.MultiDigitNet('small').count_params():,}" in small


def test_synth_writes_a_format_1_folder_and_a_preview(tmp_path, capsys):
    out = tmp_path / "synthetic"
    assert main(["synth", str(out), "--count", "12", "--seed", "3", "--workers", "1", "--preview",
                 "--purpose", "train"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 12 images and digitStruct.mat" in printed and "preview.png" in printed
    assert (out / "digitStruct.mat").is_file() and (out / "12.png").is_file()
    with Image.open(out / "preview.png") as image:
        assert image.format == "PNG" and image.width > 300


def test_synth_photos_writes_the_locators_photos_their_boxes_and_labels(tmp_path, capsys):
    """The same photos render_photo draws, each box in the photo's pixels, and a
    labels.csv that `evaluate --photos` reads (the photos with one number)."""
    import csv

    from kerasvhn.data.photo_scenes import render_photo
    from kerasvhn.photos import read_labels

    out = tmp_path / "photos"
    assert main(["synth_photos", str(out), "--count", "10", "--purpose", "test", "--seed", "2", "--long-side", "200",
                 "240", "--workers", "1", "--preview"]) == 0
    assert "wrote 10 photos" in capsys.readouterr().out
    rows = list(csv.DictReader(open(out / "boxes.csv", encoding="utf-8")))
    assert {row["file"] for row in rows} == {f"{i}.jpg" for i in range(1, 11)}
    drawn = [render_photo(index, seed=2, purpose="test", long_side=(200, 240)) for index in range(10)]
    for index, photo in enumerate(drawn):
        mine = [row for row in rows if row["file"] == f"{index + 1}.jpg"]
        with Image.open(out / f"{index + 1}.jpg") as image:
            assert image.size == photo.image.shape[1::-1]
        if not photo.numbers:
            assert [row["number"] for row in mine] == [""]
            continue
        assert [row["number"] for row in mine] == photo.numbers
        for row, box in zip(mine, photo.boxes):
            np.testing.assert_allclose([float(row[k]) for k in ("left", "top", "width", "height")], box, atol=0.01)
    single = [f"{i + 1}.jpg" for i, photo in enumerate(drawn) if len(photo.numbers) == 1]
    assert [photo.file for photo in read_labels(out)] == single and single
    with Image.open(out / "preview.png") as image:
        assert image.format == "PNG" and image.width >= 320
    assert main(["synth_photos", str(tmp_path / "x"), "--purpose", "test", "--long-side", "300", "200"]) == 1
    assert "HIGH (200) is less than LOW (300)" in capsys.readouterr().err


def test_tiny_demo_writes_its_report(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    argv = ["demo", "--out", str(out_dir), "--train-count", "64", "--test-count", "32", "--epochs", "1", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"^whole-number accuracy: \d{1,3}\.\d%$", out, re.MULTILINE), out
    assert re.search(r"^per-digit accuracy: \d{1,3}\.\d%$", out, re.MULTILINE), out
    assert re.search(r"^coverage at 98% accuracy: \d{1,3}\.\d%$", out, re.MULTILINE), out
    assert re.search(r"unseen fonts and backgrounds \(SVHN's mix of lengths\): whole-number accuracy \d", out), out
    assert re.search(r"all lengths \(training's mix.*\): whole-number accuracy \d", out), out
    assert re.search(r"^by length: .*2 digits \d{1,3}\.\d% \(\d+\)", out, re.MULTILINE), out
    assert re.search(r"^training: \d+ images/s$", out, re.MULTILINE), out
    assert re.search(r"^prediction: \d+ images/s", out, re.MULTILINE), out
    assert "pgd-10" in out and re.search(r"shipped model on 16 test photos: \d+ read right cropped by their boxes, \d+ whole", out), out
    for name in ("report.json", "training_curves.png", "accuracy_by_length.png", "examples.png", "robustness.csv", "robustness.png",
                 "shipped_model_readings.png", "model.keras"):
        assert (out_dir / name).is_file(), name
    for split in ("train", "validation", "test", "unseen", "all_lengths"):
        assert (out_dir / "data" / split / "digitStruct.mat").is_file()
        assert (out_dir / "prepared" / f"{split}.h5").is_file()
    report = json.loads((out_dir / "report.json").read_text())
    assert report["backend"] == BACKEND
    assert report["settings"]["train_count"] == 64 and report["settings"]["epochs"] == 1
    assert len(report["history"]["loss"]) == 1 and "val_sequence_accuracy" in report["history"]
    printed = float(re.search(r"^whole-number accuracy: ([\d.]+)%", out, re.MULTILINE).group(1))
    assert abs(100 * report["test"]["whole_number_accuracy"] - printed) < 0.051
    assert {row["attack"] for row in report["robustness"]} == {"fgsm", "pgd-10"}
    assert len(report["shipped_model_photos"]) == 16
    for split in ("test", "unseen", "all_lengths"):
        by_length = report[split]["by_length"]
        assert sum(row["count"] for row in by_length.values()) == 32, split
    with zipfile.ZipFile(out_dir / "model.keras") as archive:
        config = json.loads(archive.read("config.json"))
    # The demo fine-tunes the shipped model, so it keeps its architecture.
    assert config["class_name"] == "MultiDigitNet"
    assert config["config"]["preset"] == kerasvhn.PRETRAINED["small_synthetic"]["preset"] == "small_wide"


def test_demo_reuses_data_only_when_its_settings_match(tmp_path):
    from kerasvhn.data.digitstruct import read_digitstruct
    from kerasvhn.demo import _synthesize

    data, prepared = tmp_path / "data", tmp_path / "prepared"
    prepared.mkdir()
    lines = []

    def numbers():
        return [r["label"] for r in read_digitstruct(data / "test" / "digitStruct.mat").records()]

    _synthesize(data, prepared, {"test": 3}, 1, lines.append)
    first = numbers()
    (prepared / "test.h5").write_bytes(b"a prepared split")
    _synthesize(data, prepared, {"test": 3}, 1, lines.append)
    assert lines[-1].startswith("reused test/") and (prepared / "test.h5").exists()
    _synthesize(data, prepared, {"test": 3}, 4, lines.append)  # another seed
    assert lines[-1].startswith("synthesised test/") and not (prepared / "test.h5").exists()
    assert numbers() != first and len(numbers()) == 3


def test_train_then_evaluate(tmp_path, capsys):
    path = tmp_path / "tiny.weights.h5"
    assert main(["train", str(path), "--count", "64", "--epochs", "1", "--test-count", "16"]) == 0
    out = capsys.readouterr().out
    assert "held-out fonts and backgrounds: 16 images" in out and path.is_file()
    assert main(["evaluate", "--model", str(path), "--synthetic", "16", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["count"] == 16 and 0 <= scores["whole_number_accuracy"] <= 1
    assert sum(row["count"] for row in scores["by_length"].values()) == 16
    assert sum(row["count"] for row in scores["by_style"].values()) == 16
    assert main(["evaluate", "--model", str(path), "--synthetic", "6", "--style", "vertical", "--style", "stencil=0.5",
                 "--style", "tile=0", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores["by_style"]) <= {"vertical", "stencil"} and scores["count"] == 6
    assert "'tile': 0.0" in scores["data"]
    assert main(["evaluate", "--model", str(path), "--data", str(tmp_path / "test.h5"), "--style", "vertical"]) == 1
    assert "--style applies to --synthetic only" in capsys.readouterr().err
    # A second stage from the first one's weights, as the shipped model's recipe does.
    again = tmp_path / "again.weights.h5"
    argv = ["train", str(again), "--initial-weights", str(path), "--count", "32", "--epochs", "1",
            "--test-count", "16", "--photo-share", "1", "--learning-rate", "1e-9"]
    assert main(argv) == 0
    first, second = kerasvhn.MultiDigitNet("small"), kerasvhn.MultiDigitNet("small")
    first.load_weights(path)
    second.load_weights(again)
    conv = [model.get_layer("conv2").get_weights()[0] for model in (first, second)]
    np.testing.assert_allclose(conv[0], conv[1], atol=1e-5)  # a learning rate of 1e-9 moves nothing
    assert main(["train", str(again), "--initial-weights", str(tmp_path / "missing.weights.h5")]) == 1
    assert "missing.weights.h5: no such model file" in capsys.readouterr().err


def test_train_saves_a_keras_model_by_default_and_weights_with_their_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--preset", "seed", "--count", "32", "--epochs", "1", "--test-count", "8"]) == 0
    assert "saved model.keras" in capsys.readouterr().out
    model = kerasvhn.load_model("model.keras")
    assert model.preset == "seed"
    assert [s["purpose"] for s in model.training_streams] == ["train", "validation"]
    # A bare .weights.h5 of a non-default preset: through its sidecar, or --preset.
    kerasvhn.save_model(model, "seed.weights.h5")
    assert (tmp_path / "seed.config.json").is_file()
    assert main(["evaluate", "--model", "seed.weights.h5", "--synthetic", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 8
    (tmp_path / "seed.config.json").unlink()
    assert main(["evaluate", "--model", "seed.weights.h5", "--synthetic", "8"]) == 1
    assert "name its architecture with --preset" in capsys.readouterr().err
    assert main(["evaluate", "--model", "seed.weights.h5", "--preset", "small", "--synthetic", "8"]) == 1
    assert "does not fit the 'small' architecture" in capsys.readouterr().err
    assert main(["evaluate", "--model", "seed.weights.h5", "--preset", "seed", "--synthetic", "8", "--json"]) == 0


def test_evaluate_refuses_the_images_a_model_trained_on(tmp_path, capsys):
    model = kerasvhn.MultiDigitNet("small")
    model.training_streams = [{"purpose": "train", "seed": 5, "split": "train", "count": 10}]
    kerasvhn.save_model(model, tmp_path / "m.keras")
    argv = ["evaluate", "--model", str(tmp_path / "m.keras"), "--synthetic", "4", "--split", "train"]
    assert main([*argv, "--purpose", "train", "--seed", "5"]) == 1
    assert "the model was trained on these images (purpose 'train', seed 5" in capsys.readouterr().err
    assert main([*argv, "--purpose", "train", "--seed", "6"]) == 0  # recorded: seed 6 was never drawn
    assert main([*argv, "--purpose", "test", "--seed", "5"]) == 0
    unknown = kerasvhn.MultiDigitNet("small")  # nothing recorded: training purposes are refused
    kerasvhn.save_model(unknown, tmp_path / "unknown.keras")
    assert main(["evaluate", "--model", str(tmp_path / "unknown.keras"), "--synthetic", "4",
                 "--purpose", "validation"]) == 1
    assert "does not record all it was trained on" in capsys.readouterr().err


def test_evaluate_a_prepared_split(tmp_path, capsys):
    from kerasvhn.data import prepare, synthesize

    synthesize(tmp_path / "svhn" / "test", 10, seed=1, workers=1, progress=False, purpose="test")
    prepare(tmp_path / "svhn", tmp_path / "prepared", workers=1, progress=False)
    assert main(["evaluate", "--data", str(tmp_path / "prepared" / "test.h5")]) == 0
    out = capsys.readouterr().out
    assert "test.h5: 10 images" in out and re.search(r"whole-number accuracy: \d", out)


def test_bench_prints_its_rates(capsys):
    assert main(["bench", "--count", "16"]) == 0
    out = capsys.readouterr().out
    for label in ("synthesise scenes", "parse digitStruct.mat, compiled", "read numbers, batches of 256",
                  "read numbers, one image at a time"):
        assert re.search(re.escape(label) + r".* [\d,]+ images/s", out), out


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "choose a command"),
        (["frobnicate"], "invalid choice"),
        (["demo", "--epochs", "0"], "must be at least 1"),
        (["demo", "--train-count", "lots"], "expected an integer"),
        (["demo", "--seed", "-3"], "must be at least 0"),
        (["demo", "--unknown"], "unrecognized arguments"),
        (["synth"], "required"),
        (["synth", "out"], "the following arguments are required: --purpose"),
        (["synth", "out", "--purpose", "everything"], "invalid choice"),
        (["evaluate", "--synthetic", "4", "--purpose", "fun"], "invalid choice"),
        (["synth", "out", "--count", "0"], "must be at least 1"),
        (["synth", "out", "--split", "test"], "invalid choice"),
        (["train", "m.keras", "--epochs", "x"], "expected an integer"),
        (["synth", "out", "--lengths", "long"], "invalid choice"),
        (["evaluate", "--synthetic", "4", "--lengths", "long"], "invalid choice"),
        (["train", "m.keras", "--photo-share", "1.5"], "must be between 0 and 1"),
        (["train", "m.keras", "--from-preset", "small_synthetic", "--initial-weights", "w.weights.h5"],
         "not allowed with argument"),
        (["train", "m.keras", "--widen-from", "small_synthetic", "--initial-weights", "w.weights.h5"],
         "not allowed with argument"),
        (["evaluate", "--synthetic", "4", "--photo-share", "-1"], "must be between 0 and 1"),
        (["evaluate"], "one of the arguments --data --synthetic --photos is required"),
        (["predict"], "required"),
        (["predict", "a.png", "--locate", "--no-locate"], "not allowed with argument"),
        (["predict", "a.png", "--min-score", "2"], "must be between 0 and 1"),
        (["locate", "a.png", "--max-boxes", "0"], "must be at least 1"),
        (["train_locator", "l.keras", "--epochs", "0"], "must be at least 1"),
        (["train_locator", "l.keras", "--more-photos", "1"], "expected SEED:COUNT"),
        (["train_locator", "l.keras", "--more-photos", "1:0"], "COUNT at least 1"),
        (["bench", "--count", "3"], "must be at least 16"),
    ],
)
def test_bad_arguments_exit_nonzero_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code not in (0, None)
    assert message in capsys.readouterr().err


def test_demo_out_must_be_a_folder(tmp_path, capsys):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert main(["demo", "--out", str(not_a_folder)]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_command_line_process_exit_status():
    """Through a real process: the exit status and message of a bad argument."""
    result = subprocess.run(
        [sys.executable, "-m", "kerasvhn.cli", "demo", "--epochs", "-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--epochs" in result.stderr and "must be at least 1" in result.stderr


def test_prepare_command(tmp_path, capsys):
    from test_prepare import make_split, record

    make_split(tmp_path / "svhn" / "train", [record("1.png", "12"), record("2.png", "3")])
    assert main(["prepare", str(tmp_path / "svhn"), str(tmp_path / "cache")]) == 0
    assert "train: 2 images written" in capsys.readouterr().out
    assert main(["prepare", str(tmp_path / "svhn"), str(tmp_path / "cache")]) == 0
    assert "train: 2 images cached" in capsys.readouterr().out
    assert main(["prepare", str(tmp_path / "nothing"), str(tmp_path / "cache")]) == 1
    assert "no split folders" in capsys.readouterr().err


def test_download_command_without_network(tmp_path, capsys):
    # A closed local port stands for "no network": a clear message, exit status 1.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status = main(["download", str(tmp_path), "--splits", "test", "--base-url", f"http://127.0.0.1:{port}/"])
    assert status == 1
    assert "127.0.0.1" in capsys.readouterr().err


def test_attack_command(tmp_path, capsys):
    model = kerasvhn.MultiDigitNet("small")
    model.save(tmp_path / "m.keras")
    status = main(
        ["attack", "--model", str(tmp_path / "m.keras"), "--synthetic", "16", "--eps", "0,2",
         "--attacks", "fgsm", "--out", str(tmp_path / "report")]
    )
    assert status == 0
    assert (tmp_path / "report" / "robustness.csv").exists()
    assert "fgsm" in capsys.readouterr().out
