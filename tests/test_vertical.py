"""Vertical numbers: tall frames also read unstacked (kerasvhn.vertical)."""

import numpy as np
import pytest
from PIL import Image

from kerasvhn.locator import Box
from kerasvhn.predict import Reading, read_numbers, read_photos_located
from kerasvhn.vertical import MARGIN, ROWS, is_tall, prefer_unstacked, unstacked_frame
from scripted_model import FixedBoxes

RED, GREEN, BLUE, GREY = (220, 20, 20), (20, 220, 20), (20, 20, 220), (128, 128, 128)


def _stack(colours, width=30, row=40, margin=0):
    """An image of coloured rows stacked top to bottom, with a grey margin around."""
    image = Image.new("RGB", (width + 2 * margin, row * len(colours) + 2 * margin), GREY)
    for k, colour in enumerate(colours):
        image.paste(colour, (margin, margin + k * row, margin + width, margin + (k + 1) * row))
    return image


class ColourReader:
    """A stand-in reader: a frame whose columns go red, green (, blue) from left to
    right reads "12" ("123"), surely; anything else reads "" (or `plain` when given).
    Counts the frames it saw."""

    def __init__(self, plain=None, plain_confidence=0.9):
        self.plain, self.plain_confidence, self.seen = plain, plain_confidence, 0

    def predict_on_batch(self, frames):
        self.seen += len(frames)
        length = np.full((len(frames), 7), -20.0)
        digits = np.full((len(frames), 5, 10), -20.0)
        for n, frame in enumerate(np.asarray(frames)):
            thirds = [_colour(frame[:, a:b]) for a, b in ((0, 16), (20, 34), (38, 54))]
            halves = [_colour(frame[:, a:b]) for a, b in ((0, 24), (30, 54))]
            if thirds == [0, 1, 2]:
                number, p = "123", 0.95
            elif halves == [0, 1] and 2 not in thirds:
                number, p = "12", 0.95
            elif self.plain is not None:
                number, p = self.plain, self.plain_confidence
            else:
                number, p = "", 0.9
            length[n, len(number)] = np.log(p)
            length[n, [k for k in range(7) if k != len(number)]] = np.log((1 - p) / 6)
            for k, digit in enumerate(number):
                digits[n, k, int(digit)] = 20.0
        return {"length": length, "digits": digits}


def _colour(region):
    """0, 1 or 2 where a region is mostly red, green or blue; -1 otherwise."""
    mean = region.reshape(-1, 3).mean(0) * 255
    return int(mean.argmax()) if mean.max() > 150 and np.sort(mean)[1] < 100 else -1


def test_tall_means_at_least_one_and_a_half_times_as_high_as_wide():
    assert is_tall(20, 30) and is_tall(20, 60)
    assert not is_tall(20, 29) and not is_tall(60, 20)


@pytest.mark.parametrize("rows", [2, 3])
def test_unstacked_frame_lays_rows_left_to_right_in_top_to_bottom_order(rows):
    colours = (RED, GREEN, BLUE)[:rows]
    image = _stack(colours, margin=12)
    box = (12, 12, 30, 40 * rows)
    frame = unstacked_frame(image, box, rows)
    assert frame.shape == (54, 54, 3) and frame.dtype == np.float32
    # the middle column of each row's place holds that row's colour
    for k, colour in enumerate(colours):
        column = int((k + 0.5) * 64 / rows) - 5
        assert frame[20:34, column].mean(0).argmax() == int(np.argmax(colour)), (k, frame[20:34, column].mean(0))


def test_a_whole_photo_unstacked_assumes_the_readers_margin():
    """Without a box the photo is a frame around its number: the rows are cut from
    the photo minus the 30% margin, so 2 rows of a red-over-green stack split at the
    colours' border."""
    image = _stack((RED, GREEN), margin=9)  # 30 x 80 inside, a margin of 15% each side
    frame = unstacked_frame(image, None, 2)
    assert frame[20:34, 8:20].mean((0, 1)).argmax() == 0
    assert frame[20:34, 34:46].mean((0, 1)).argmax() == 1


def test_a_tall_stack_read_as_nothing_is_read_unstacked():
    reader = ColourReader()
    image = _stack((RED, GREEN), margin=9)
    plain = Reading("", 0.9)
    answer = prefer_unstacked(reader, [image], [None], [plain])[0]
    assert answer.number == "12" and answer.confidence == pytest.approx(0.95, abs=1e-3)
    assert reader.seen == len(ROWS)


def test_the_unstacked_reading_must_have_one_digit_per_row():
    """Three rows read "123" (three digits); two and four rows of it read nothing."""
    image = _stack((RED, GREEN, BLUE), margin=9)
    answer = prefer_unstacked(ColourReader(), [image], [None], [Reading("", 0.9)])[0]
    assert answer.number == "123"


def test_wide_frames_are_not_unstacked():
    reader = ColourReader()
    wide = _stack((RED, GREEN), width=200, margin=9)
    plain = Reading("", 0.9)
    assert prefer_unstacked(reader, [wide], [None], [plain]) == [plain]
    assert reader.seen == 0


def test_a_surer_plain_reading_is_kept():
    """The unstacked reading (0.95) replaces a plain number only when at least MARGIN
    more probable."""
    image = _stack((RED, GREEN), margin=9)
    sure = Reading("7", 0.95 - MARGIN / 2)
    assert prefer_unstacked(ColourReader(), [image], [None], [sure]) == [sure]
    unsure = Reading("7", 0.95 - MARGIN - 0.05)
    assert prefer_unstacked(ColourReader(), [image], [None], [unsure])[0].number == "12"


def test_read_numbers_unstacks_tall_photos_unless_asked_not_to():
    image = np.asarray(_stack((RED, GREEN), margin=9))
    assert read_numbers([image], model=ColourReader(), locate=False)[0].number == "12"
    assert read_numbers([image], model=ColourReader(), locate=False, unstack=False)[0].number == ""


def test_a_tall_located_box_is_read_unstacked_and_keeps_its_box():
    """A wide photo (not unstacked whole) holding a red-over-green stack: its located,
    tall box reads "12" unstacked, and the answer carries the box and its score."""
    photo = Image.new("RGB", (400, 200), GREY)
    photo.paste(_stack((RED, GREEN)), (200, 40))
    box = Box(200.0, 40.0, 30.0, 80.0, 0.8)
    answer = read_photos_located(ColourReader(), FixedBoxes(box), [photo], every=False)[0][0]
    assert answer.number == "12"
    assert answer.box == (200.0, 40.0, 30.0, 80.0) and answer.box_score == pytest.approx(0.8)
    plain = read_photos_located(ColourReader(), FixedBoxes(box), [photo], every=False, unstack=False)[0][0]
    assert plain.number == "" and plain.box is None


def test_cli_predict_unstacks_tall_photos_unless_told_not_to(tmp_path, monkeypatch, capsys):
    import json

    from kerasvhn.cli import main

    monkeypatch.setattr("kerasvhn.commands.arguments.load_model_argument", lambda args: ColourReader())
    path = tmp_path / "stack.png"
    _stack((RED, GREEN), margin=9).save(path)
    assert main(["predict", str(path), "--no-locate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["number"] == "12"
    assert main(["predict", str(path), "--no-locate", "--no-unstack", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["number"] == ""


def test_the_likeliest_unstacked_reading_wins_and_the_margin_is_over_the_plain_one():
    """Plain "7" at 0.45: rows 2 and 3 read "12" at 0.70 and "123" at 0.80, both at least
    MARGIN over the plain reading, so the likelier, "123", is the answer."""
    from scripted_model import ScriptedModel, outputs_reading

    assert 0.45 + MARGIN <= 0.70
    reader = ScriptedModel(outputs_reading([("12", 0.70), ("123", 0.80), ("", 0.9)]))
    answer = prefer_unstacked(reader, [_stack((RED, GREEN))], [None], [Reading("7", 0.45)])[0]
    assert answer.number == "123" and answer.confidence == pytest.approx(0.80, abs=1e-3)
