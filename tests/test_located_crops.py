"""The reader's located crops (kerasvhn.data.located_crops): numbers cut out of
synthetic whole photos as the two stages frame a located box, decoys, and training
on them (`kerasvhn train --located-photos`)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kerasvhn.data import located_crops as lc
from kerasvhn.data.photo_scenes import Photo, render_photo
from kerasvhn.framing import centre_crops
from kerasvhn.labels import encode_numbers
from kerasvhn.predict import box_frame


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), left=st.floats(0, 500), top=st.floats(0, 500),
       width=st.floats(1, 300), height=st.floats(1, 300))
def test_a_jittered_box_stays_near_the_number_and_about_its_size(seed, left, top, width, height):
    x, y, w, h = lc.jittered_box(np.random.default_rng(seed), (left, top, width, height))
    assert abs(x + w / 2 - (left + width / 2)) <= lc.BOX_SHIFT * width + 1e-6
    assert abs(y + h / 2 - (top + height / 2)) <= lc.BOX_SHIFT * height + 1e-6
    for new, old in ((w, width), (h, height)):
        assert old / lc.BOX_SCALE[0] - 1e-6 <= new <= old * lc.BOX_SCALE[1] + 1e-6


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       boxes=st.lists(st.tuples(st.floats(0, 300), st.floats(0, 200), st.floats(2, 100), st.floats(2, 60)),
                      max_size=4))
def test_a_decoy_box_frame_touches_no_number(seed, boxes):
    box = lc.decoy_box(np.random.default_rng(seed), boxes, 400, 300)
    if box is None:
        return
    left, top, width, height = box
    assert 0 <= left and left + width <= 400 and 0 <= top and top + height <= 300
    assert _decoy_width_ok(width, 400) and lc.DECOY_ASPECT[0] - 1e-9 <= height / width <= lc.DECOY_ASPECT[1] + 1e-9
    frame = (left - 0.15 * width, top - 0.15 * height, left + 1.15 * width, top + 1.15 * height)
    for x, y, w, h in boxes:  # apart in x or in y
        assert x + w <= frame[0] or frame[2] <= x or y + h <= frame[1] or frame[3] <= y


def _decoy_width_ok(width, photo_width):
    return lc.DECOY_WIDTH[0] * photo_width - 1e-6 <= width <= lc.DECOY_WIDTH[1] * photo_width + 1e-6


def test_no_room_for_a_decoy_gives_none():
    everything = [(0.0, 0.0, 400.0, 300.0)]
    assert lc.decoy_box(np.random.default_rng(0), everything, 400, 300) is None


def test_a_crop_is_what_the_second_stage_reads_of_that_box():
    rng = np.random.default_rng(1)
    photo = Image.fromarray(rng.integers(0, 255, (300, 400, 3), np.uint8))
    for box in [(100.5, 80.25, 60.0, 25.0), (0.0, 0.0, 30.0, 40.0), (390.0, 290.0, 30.0, 30.0)]:
        pixels = lc.box_crop(photo, box)
        assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
        np.testing.assert_array_equal(centre_crops(pixels[None])[0], box_frame(photo, box))
    assert lc.box_crop(photo, (500.0, 400.0, 10.0, 10.0)) is None  # outside the photo


def _photo(numbers, boxes):
    image = np.full((300, 400, 3), 90, np.uint8)
    return Photo(image, list(numbers), list(boxes), [[] for _ in numbers], "wall")


def test_each_number_gives_its_crops_in_order_and_a_decoy_is_labelled_no_number():
    photo = _photo(["12", "7", "345"], [(20.0, 30.0, 60.0, 30.0), (200.0, 40.0, 30.0, 4.0), (150, 150, 90, 40)])
    images, numbers = lc.photo_crops(photo, np.random.default_rng(0), per_number=2, decoy_share=1.0)
    # the "7" is 4 px high, under MIN_HEIGHT: a blur, no crop
    assert numbers == ["12", "12", "345", "345", ""]
    assert all(image.shape == (64, 64, 3) for image in images)
    images, numbers = lc.photo_crops(photo, np.random.default_rng(0), per_number=1, decoy_share=0.0)
    assert numbers == ["12", "345"]


def test_located_crops_are_reproducible_and_follow_their_photos():
    images, numbers = lc.located_crops(3, seed=2, purpose="test", long_side=320, per_number=1)
    again, numbers_again = lc.located_crops(3, seed=2, purpose="test", long_side=320, per_number=1)
    np.testing.assert_array_equal(images, again)
    assert numbers == numbers_again
    expected = [n for i in range(3) for n, b in zip(*render_photo(i, 2, purpose="test", long_side=320)[1:3])
                if b[3] >= lc.MIN_HEIGHT and b[2] >= 2]
    assert numbers == expected
    third, _ = lc.located_crops(1, seed=2, purpose="test", long_side=320, per_number=1, start=2)
    np.testing.assert_array_equal(third, images[len(images) - len(third):])  # photo 2 alone: the same crops


def test_located_crops_check_their_arguments():
    with pytest.raises(ValueError, match="decoy_share must be between 0 and 1"):
        lc.located_crops(1, purpose="train", decoy_share=1.5)
    with pytest.raises(ValueError, match="count"):
        lc.located_crops(-1, purpose="train")


def test_training_adds_the_located_crops_and_records_their_photos():
    from kerasvhn.train import _joined, train_on_synthetic

    framed = (np.zeros((2, 64, 64, 3), np.uint8), encode_numbers(["1", "23"]))
    crops = (np.full((3, 64, 64, 3), 7, np.uint8), ["456", "", "8"])
    images, labels = _joined(framed, crops)
    assert images.shape == (5, 64, 64, 3) and images[2:].min() == 7
    assert labels["length"].tolist() == [1, 2, 3, 0, 1] and labels["digits"][2].tolist() == [4, 5, 6, 0, 0]
    lines = []
    model, history, _ = train_on_synthetic(16, 1, 3, validation_count=8, workers=1, verbose=0, located=(2, 1),
                                           log=lines.append)
    assert any(line.startswith("cut ") and "from 3 synthetic photos (seed 3)" in line for line in lines)
    located = model.training_streams[-1]
    assert located["purpose"] == "train" and located["seed"] == 3 and located["located"] == [2, 1]
    assert located["generator"].startswith("photo_scenes-")
    assert math.isfinite(history["loss"][0])
