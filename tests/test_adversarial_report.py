"""The robustness report: its table, CSV, plot, image grid and the `attack` command."""

import csv

import numpy as np
import pytest

import kerasvhn
from kerasvhn.adversarial import report
from kerasvhn.cli import main
from test_adversarial import tiny_data, tiny_model, trained_tiny_model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained():
    """A tiny model that reads its training images (module-wide: trained once)."""
    return trained_tiny_model(np.random.default_rng(1))


def test_report_rows_and_accuracies(trained):
    model, x, y = trained
    rows = kerasvhn.robustness_report(model, (x, y), eps=(0, 8 / 255, 32 / 255), attacks=("fgsm", "pgd-3"), batch_size=6)
    assert [(row["attack"], round(row["eps"] * 255)) for row in rows] == [
        ("fgsm", 0), ("fgsm", 8), ("fgsm", 32), ("pgd-3", 0), ("pgd-3", 8), ("pgd-3", 32)
    ]
    outputs = model.predict_on_batch(x)
    clean = np.mean([a == b for a, b in zip(kerasvhn.decode(outputs).numbers, kerasvhn.labels_to_numbers(y))])
    mask = np.arange(3)[None, :] < y["length"][:, None]
    digits = ((np.argmax(outputs["digits"], -1) == y["digits"]) & mask).sum() / mask.sum()
    for row in (rows[0], rows[3]):
        assert row["sequence_accuracy"] == pytest.approx(clean)
        assert row["digit_accuracy"] == pytest.approx(digits)
        assert row["images"] == 8
    assert clean >= 0.75, clean
    assert rows[5]["sequence_accuracy"] < clean, rows  # PGD at 32/255 breaks a model trained on noise
    print(report.format_report(rows))


def test_csv_plot_and_grid(trained, tmp_path):
    model, x, y = trained
    rows = kerasvhn.robustness_report(model, (x[:4], {k: v[:4] for k, v in y.items()}), eps=(0, 4 / 255), attacks=("fgsm",))
    report.write_report_csv(rows, tmp_path / "report.csv")
    with open(tmp_path / "report.csv") as handle:
        read = list(csv.DictReader(handle))
    assert [float(r["eps"]) for r in read] == [0.0, 4 / 255]
    assert float(read[0]["sequence_accuracy"]) == pytest.approx(rows[0]["sequence_accuracy"])
    report.plot_report(rows, tmp_path / "report.png")
    report.save_adversarial_grid(model, (x, y), tmp_path / "grid.png", eps=8 / 255, count=3)
    for name in ("report.png", "grid.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE


def test_attack_command(trained, tmp_path, capsys):
    model, x, y = trained
    model.save(tmp_path / "model.keras")
    # 20x20 uint8 images are centre-cropped to the model's 16x16 and scaled to [0, 1].
    images = np.zeros((len(x), 20, 20, 3), np.uint8)
    images[:, 2:18, 2:18] = np.round(x * 255)
    np.savez(tmp_path / "data.npz", images=images, **y)
    argv = ["attack", "--model", str(tmp_path / "model.keras"), "--data", str(tmp_path / "data.npz"),
            "--eps", "0,4", "--attacks", "fgsm,pgd-2", "--limit", "6", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "6 images" in printed and "pgd-2" in printed and "whole-number acc" in printed
    for name in ("robustness.csv", "robustness.png", "adversarial_examples.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_report_refuses_mismatched_data(rng):
    x, y = tiny_data(rng, 4)
    with pytest.raises(ValueError, match="as many labels"):
        kerasvhn.robustness_report(tiny_model(), (x[:2], y))
    with pytest.raises(ValueError, match="unknown attack"):
        kerasvhn.robustness_report(tiny_model(), (x, y), attacks=("jsma",))
