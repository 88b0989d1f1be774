"""What the training benches measure on each model: real photos (read whole, tight
and loose apart), the real SVHN fixture cropped by its boxes, and synthetic test
images of a stream no training draws from."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "svhn-train-sample"
PHOTOS = ROOT.parent / "shared" / "real-dev"

COLUMNS = [
    ("tight", "real tight photos", "{}"), ("loose", "real loose photos", "{}"),
    ("svhn_fixture", "SVHN fixture (boxes)", "{}"), ("synthetic", "synthetic held-out %", "{:.1f}"),
]


def photo_folder(path):
    """The folder when it holds a labels.csv, else None (a clone without ../shared)."""
    return str(path) if path and (Path(path) / "labels.csv").is_file() else None


def synthetic_test(count=2000, seed=0):
    """Synthetic test images: purpose "benchmark", held-out fonts and backgrounds,
    SVHN's mix of lengths."""
    from kerasvhn.train import render

    return render("benchmark", count, seed, split="held_out", lengths="svhn")


def scores(model, photos, synthetic):
    """{"tight", "loose": "right/count", "photo_readings", "svhn_fixture", "synthetic" %}."""
    from kerasvhn.data.digitstruct import read_digitstruct
    from kerasvhn.evaluate import evaluate_model
    from kerasvhn.photos import evaluate_photos
    from kerasvhn.predict import read_numbers

    row = {}
    if photos:
        result = evaluate_photos(model, photos)
        for framing, tally in result["by_framing"].items():
            row[framing] = f"{tally['right']}/{tally['count']}"
        row["photo_readings"] = {r["file"]: r["number"] for r in result["photos"]}
    row["synthetic"] = 100 * evaluate_model(model, *synthetic)["whole_number_accuracy"]
    records = list(read_digitstruct(FIXTURE / "digitStruct.mat").records())[:3]
    readings = read_numbers([FIXTURE / r["name"] for r in records], model=model, records=records)
    truth = ["".join(str(int(x) % 10) for x in r["label"]) for r in records]
    row["svhn_fixture"] = f"{sum(r.number == t for r, t in zip(readings, truth))}/3"
    return row
