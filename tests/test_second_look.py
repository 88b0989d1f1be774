"""The locator's second look (kerasvhn.second_look): windows around boxes, their
pixels, and boxes moved to where the window's reading puts them."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kerasvhn import locator_training
from kerasvhn.data.located_crops import DECOY_ASPECT, DECOY_WIDTH
from kerasvhn.data.photo_scenes import render_encoded
from kerasvhn.locator import Box, NumberLocator
from kerasvhn.locator_training import LOOK_SCALE, LocatorBatches, decoy_window, look_window, train_locator
from kerasvhn.second_look import MATCH_IOU, look_again, window_around, window_pixels
from stand_in_locator import BrightPlate


@settings(max_examples=60, deadline=None)
@given(left=st.floats(0, 900), top=st.floats(0, 700), width=st.floats(2, 400), height=st.floats(2, 300),
       factor=st.sampled_from([1.5, 2.0, 3.0]))
def test_a_window_is_square_around_its_box_and_inside_the_photo_where_it_fits(left, top, width, height, factor):
    size = (1000, 750)
    box = Box(left, top, min(width, size[0] - left), min(height, size[1] - top), 0.9)
    x, y, side = window_around(box, factor, size)
    assert side == pytest.approx(factor * max(box.width, box.height))
    for start, extent, low, high in ((x, size[0], box.left, box.left + box.width),
                                     (y, size[1], box.top, box.top + box.height)):
        if side <= extent:
            assert 0 <= start + 1e-9 and start + side <= extent + 1e-9
        else:
            assert start == pytest.approx((extent - side) / 2)
        assert start <= low + 1e-9 and high <= start + side + 1e-9  # the box stays inside its window


def test_window_pixels_are_the_photos_resized_and_its_edges_repeated_beyond_it():
    photo = np.zeros((100, 200, 3), np.uint8)
    photo[:, 100:] = 255  # right half white
    pixels, scale = window_pixels(Image.fromarray(photo), (150.0, -50.0, 100.0), 64)
    assert pixels.shape == (64, 64, 3) and scale == pytest.approx(0.64)
    # x from 150 to 250: 150-200 inside the photo (white), 200-250 beyond its right edge (white repeated)
    np.testing.assert_allclose(pixels, 1.0, atol=1e-6)
    pixels, _ = window_pixels(Image.fromarray(photo), (50.0, 0.0, 100.0), 64)
    assert pixels[:, :30].max() < 0.01 and pixels[:, 34:].min() > 0.99  # the edge at x=100, the middle


def _plate_photo():
    photo = np.full((750, 1000, 3), 30, np.uint8)
    photo[400:430, 600:690] = 240  # the plate: left 600, top 400, 90 x 30
    return photo


def test_the_second_look_moves_a_loose_box_onto_the_number(monkeypatch):
    locator = NumberLocator("locator_tiny", input_size=512, zoom=[], second_look=[2.0, 256])
    network = BrightPlate(exact_side=256, widen=1.6)
    monkeypatch.setattr(locator, "predict_on_batch", network)
    (looked,) = locator.locate(_plate_photo(), min_score=0.5)[0]
    assert network.sides == [512, 256]  # the photo, then one window
    np.testing.assert_allclose(looked[:4], (600, 400, 90, 30), atol=1.0)  # to a window pixel (x0.7)
    assert looked.score == pytest.approx(1 / (1 + np.exp(-5.0)))  # the first look's score
    (first,) = locator.locate(_plate_photo(), min_score=0.5, second_look=False)[0]
    assert first.width == pytest.approx(1.6 * 90, abs=2.5)  # without it: the loose box


def test_a_window_that_finds_another_box_or_none_leaves_the_first_box():
    class _Elsewhere:
        def predict_on_batch(self, images):
            count, height, width = images.shape[:3]
            heat = np.full((count, height // 8, width // 8, 1), -10.0)
            heat[:, 0, 0] = 5.0  # a peak in the window's corner, a small box: no overlap
            box = np.zeros((count, height // 8, width // 8, 4))
            return {"heat": heat, "box": box}

    first = Box(600.0, 400.0, 90.0, 30.0, 0.8)
    image = Image.fromarray(_plate_photo())
    assert look_again(_Elsewhere(), image, [first], 2.0, 256) == [first]
    assert look_again(_Elsewhere(), image, [], 2.0, 256) == []
    assert MATCH_IOU > 0


def test_a_bad_second_look_names_the_problem_and_is_saved_with_the_config():
    with pytest.raises(ValueError, match="second_look must be"):
        NumberLocator("locator_tiny", second_look=[2.0, 250])
    with pytest.raises(ValueError, match="second_look must be"):
        NumberLocator("locator_tiny", second_look=[2.0])
    locator = NumberLocator("locator_tiny", second_look=[2.5, 192])
    assert locator.get_config()["second_look"] == [2.5, 192]
    assert NumberLocator.from_config(locator.get_config()).second_look == [2.5, 192]
    assert NumberLocator("locator_tiny").second_look == []


# ----------------------------------------------------------------------------- training on its windows


def _bright_rectangle_photo(size, rect):
    photo = np.full((size[1], size[0], 3), 40, np.uint8)
    x0, y0, x1, y1 = rect
    photo[y0:y1, x0:x1] = 230
    return Image.fromarray(photo)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(6, 120), st.integers(4, 60), st.floats(0, 1), st.floats(0, 1))
def test_a_look_window_shows_its_number_as_large_as_the_second_look_does(seed, width, height, fx, fy):
    """A 2x window read at 256 px shows a number's longer side as 128 px; a 384 px training
    window cut the same way shows it as many pixels (x LOOK_SCALE either way, the first
    look's error), wherever the number lies, and its box is where its pixels are."""
    size = (400, 300)
    x0, y0 = 1 + int(fx * (size[0] - width - 2)), 1 + int(fy * (size[1] - height - 2))  # edge pixels are repeated
    rect = (x0, y0, x0 + width, y0 + height)
    pixels, kept, ignored = look_window(np.random.default_rng(seed), _bright_rectangle_photo(size, rect), [rect],
                                        384, 2.0, 256)
    assert pixels.shape == (384, 384, 3) and not ignored
    ((kx0, ky0, kx1, ky1),) = kept
    longer = max(kx1 - kx0, ky1 - ky0)
    assert 128 / LOOK_SCALE - 1e-6 <= longer <= 128 * LOOK_SCALE + 1e-6
    bright = np.argwhere(pixels.mean(axis=-1) > 0.5)
    (by0, bx0), (by1, bx1) = bright.min(axis=0), bright.max(axis=0) + 1
    pixel = max((kx1 - kx0) / width, 1.5)  # a photo pixel magnified; shrinking blurs an edge over two pixels
    assert abs(bx0 - kx0) <= pixel and abs(bx1 - kx1) <= pixel
    assert abs(by0 - ky0) <= pixel and abs(by1 - ky1) <= pixel


def test_a_look_window_keeps_the_other_numbers_it_shows_and_ignores_those_it_cuts():
    truth = [(180, 140, 220, 160), (236, 140, 250, 160), (300, 20, 340, 40)]
    image = Image.new("RGB", (400, 300), (90, 90, 90))
    rng = np.random.default_rng(1)
    for _ in range(20):
        pixels, kept, ignored = look_window(rng, image, truth, 384, 2.0, 256)
        for x0, y0, x1, y1 in kept + ignored:
            assert 0 <= x0 < x1 <= 384 and 0 <= y0 < y1 <= 384
        assert kept  # the number it is cut around, at least


@pytest.mark.parametrize("cutter, share, other", [("look_window", "look_share", "decoy_share"),
                                                  ("decoy_window", "decoy_share", "look_share")])
def test_training_cuts_a_share_of_its_windows_as_the_second_look_does(monkeypatch, cutter, share, other):
    """look_share of the windows of photos with numbers are cut around a number,
    decoy_share of all windows around a random box; neither by default."""
    photos = render_encoded(4, 0, "train", workers=1, long_side=200, log=lambda *a: None)
    if cutter == "look_window":
        photos = [p for p in photos if p[1]] or pytest.skip("no photo with a number")
    cut = []
    monkeypatch.setattr(locator_training, cutter,
                        lambda *args: cut.append(args[3:]) or locator_training.training_window(*args[:3], 64, 64))
    batches = LocatorBatches(photos, 64, batch_size=len(photos), crop=64, look=[2.0, 256], **{share: 1.0})
    images, _ = batches[0]
    assert images.shape == (len(photos), 64, 64, 3) and cut == [(64, 2.0, 256)] * len(photos)
    cut.clear()
    LocatorBatches(photos, 64, batch_size=len(photos), crop=64)[0]
    LocatorBatches(photos, 64, batch_size=len(photos), crop=64, look=[2.0, 256], **{other: 1.0})[0]
    assert cut == []


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_a_decoy_window_is_cut_as_the_second_look_cuts_one_and_its_targets_are_what_it_shows(seed):
    """Around a random box: magnified as a second look magnifies the window of a box
    DECOY_WIDTH of the photo's width; a number it shows whole is a target where its
    pixels are, a number-less photo gives none."""
    size, rect = (400, 300), (150, 120, 210, 150)
    photo = _bright_rectangle_photo(size, rect)
    pixels, kept, ignored = decoy_window(np.random.default_rng(seed), photo, [rect], 384, 2.0, 256)
    assert pixels.shape == (384, 384, 3)
    bright = np.argwhere(pixels.mean(axis=-1) > 0.5)
    shown = bright.size and (len(bright) > 0.9 * (bright.max(axis=0) + 1 - bright.min(axis=0)).prod())
    if kept:
        ((kx0, ky0, kx1, ky1),) = kept
        scale = (kx1 - kx0) / (rect[2] - rect[0])
        # the window spans 2 * 384 / 256 times the decoy's longer side, its width DECOY_WIDTH of 400 px
        longest, shortest = DECOY_WIDTH[1] * max(1, DECOY_ASPECT[1]) * 400, DECOY_WIDTH[0] * 400
        assert 384 / (3 * longest) * 0.99 <= scale <= 384 / (3 * shortest) * 1.01
        (by0, bx0), (by1, bx1) = bright.min(axis=0), bright.max(axis=0) + 1
        pixel = max(scale, 1.5)
        assert abs(bx0 - kx0) <= pixel and abs(bx1 - kx1) <= pixel
        assert abs(by0 - ky0) <= pixel and abs(by1 - ky1) <= pixel
    else:
        assert not shown or ignored  # a number shown whole is always a target
    empty = decoy_window(np.random.default_rng(seed), Image.new("RGB", size, (90, 90, 90)), [], 384, 2.0, 256)
    assert empty[0].shape == (384, 384, 3) and empty[1:] == ([], [])


def test_look_and_decoy_windows_need_a_locator_with_a_second_look():
    with pytest.raises(ValueError, match="need a locator with a second look"):
        train_locator(2, 1, preset="locator_tiny", look_share=0.3, verbose=0, log=lambda *a: None)  # before rendering
    with pytest.raises(ValueError, match="look_share must be between 0 and 1"):
        train_locator(2, 1, preset="locator_small", look_share=1.5, verbose=0, log=lambda *a: None)
    with pytest.raises(ValueError, match="need a locator with a second look"):
        train_locator(2, 1, preset="locator_tiny", decoy_share=0.3, verbose=0, log=lambda *a: None)
    with pytest.raises(ValueError, match="decoy_share must be between 0 and 1"):
        train_locator(2, 1, preset="locator_small", decoy_share=-0.1, verbose=0, log=lambda *a: None)


def test_no_window_is_cut_around_a_sliver_of_a_number():
    """The camera's turn can leave a number a sliver at the photo's edge (here 88 x 0.4 px):
    a window is cut around the photo's other number, and a photo with only slivers gets
    the usual training window."""
    image = Image.new("RGB", (400, 300), (90, 90, 90))
    truth = [(300, 0.0, 388, 0.4), (100, 100, 140, 120)]
    for seed in range(10):
        pixels, kept, _ = look_window(np.random.default_rng(seed), image, truth, 384, 2.0, 256)
        assert any(x1 - x0 > 100 for x0, _, x1, _ in kept)  # the 40 px number, magnified
    with pytest.raises(ValueError, match="a pixel wide and high"):
        look_window(np.random.default_rng(0), image, truth[:1], 384, 2.0, 256)
    import io
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    batches = LocatorBatches([(buffer.getvalue(), truth[:1])], 128, batch_size=1, crop=128, look=[2.0, 256],
                             look_share=1.0)
    assert batches[0][0].shape == (1, 128, 128, 3)
