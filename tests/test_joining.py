"""Numbers located in pieces: neighbouring boxes joined (kerasvhn.joining)."""

import pytest
from PIL import Image

from kerasvhn.joining import GAP, with_unions
from kerasvhn.locator import Box
from kerasvhn.predict import read_numbers, read_photos_located
from scripted_model import FixedBoxes, ScriptedModel, outputs_reading


def test_two_boxes_side_by_side_on_one_line_add_their_union_scored_as_the_better():
    a, b = Box(10, 10, 20, 30, 0.4), Box(34, 14, 22, 28, 0.7)
    assert with_unions([a, b]) == [a, b, Box(10, 10, 46, 32, 0.7)]


def test_two_boxes_one_above_the_other_add_their_union():
    top, bottom = Box(100, 20, 20, 30, 0.6), Box(102, 55, 18, 32, 0.5)
    assert with_unions([top, bottom])[2] == Box(100, 20, 20, 67, 0.6)


@pytest.mark.parametrize("other", [
    Box(10 + 20 + GAP * 30 + 2, 10, 20, 30, 0.5),  # too far apart
    Box(31, 10, 20, 60, 0.5),  # twice as tall
    Box(31, 30, 20, 30, 0.5),  # overlapping under half the height: not one line
    Box(12, 11, 17, 28, 0.5),  # inside the first: the union is no larger
])
def test_boxes_that_are_not_neighbours_are_left_alone(other):
    first = Box(10, 10, 20, 30, 0.9)
    assert with_unions([first, other]) == [first, other]


def test_a_number_found_in_two_pieces_is_read_whole():
    """The reader reads the two pieces as "22" and "02", the union as "2202"; the union
    (scored as its better piece) is the answer, with its box; without joining, a piece."""

    pieces = FixedBoxes(Box(100, 50, 40, 40, 0.8), Box(142, 50, 40, 40, 0.7))
    photo = Image.new("RGB", (300, 200), (128, 128, 128))  # wide: not read unstacked
    # frames in order: the whole photo, piece 1, piece 2, the union
    reader = ScriptedModel(outputs_reading([("", 0.9), ("22", 0.8), ("02", 0.8), ("2202", 0.9)]))
    answer = read_photos_located(reader, pieces, [photo], every=False)[0][0]
    assert answer.number == "2202" and answer.box == (100.0, 50.0, 82.0, 40.0) and answer.box_score == 0.8
    reader = ScriptedModel(outputs_reading([("", 0.9), ("22", 0.8), ("02", 0.8)]))
    assert read_photos_located(reader, pieces, [photo], every=False, join=False)[0][0].number == "22"
    for join, expected in ((True, "2202"), (False, "22")):
        script = [("", 0.9), ("22", 0.8), ("02", 0.8)] + ([("2202", 0.9)] if join else [])
        reader = ScriptedModel(outputs_reading(script))
        assert read_numbers(photo, model=reader, locator=pieces, join=join)[0].number == expected
        assert reader.seen == len(script)
