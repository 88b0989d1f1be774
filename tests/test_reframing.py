"""Unsure readings of a located box read again in frames around it (kerasvhn.reframing)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from kerasvhn.predict import Reading, box_frame
from kerasvhn.reframing import prefer_reframed, view_box
from scripted_model import ScriptedModel, outputs_reading


class RecordingModel(ScriptedModel):
    """A ScriptedModel that keeps the frames it is given."""

    def __init__(self, outputs):
        super().__init__(outputs)
        self.frames = []

    def predict_on_batch(self, frames):
        self.frames.extend(np.asarray(frames))
        return super().predict_on_batch(frames)


@settings(max_examples=50, deadline=None)
@given(st.floats(0, 500), st.floats(0, 500), st.floats(1, 300), st.floats(1, 300),
       st.floats(0.5, 2), st.floats(0.5, 2), st.floats(-0.5, 0.5), st.floats(-0.5, 0.5))
def test_a_view_scales_the_box_about_its_centre_then_moves_it(left, top, width, height, sx, sy, dx, dy):
    x, y, w, h = view_box((left, top, width, height), (sx, sy, dx, dy))
    assert (w, h) == pytest.approx((width * sx, height * sy))
    assert (x + w / 2, y + h / 2) == pytest.approx((left + width * (0.5 + dx), top + height * (0.5 + dy)))


def test_a_rejected_guess_gives_way_to_its_surest_view():
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 200, 3), np.uint8))
    boxes = [(80, 40, 40, 20), (20, 20, 40, 20), (140, 60, 40, 20)]
    views = ((1.15, 1.0, 0.0, 0.0), (0.85, 1.0, 0.1, 0.0))
    readings = [Reading("", 0.6, "14381", 0.01), Reading("22", 0.9), Reading("", 0.7, "46", 0.02)]
    # Only the rejected guesses are read again, in each view: the first box's views
    # read "1438" (0.8) and "148" (0.6); the third's "462" (0.4) and "" (0.9).
    model = RecordingModel(outputs_reading([("1438", 0.8), ("148", 0.6), ("462", 0.4), ("", 0.9)]))
    answers = prefer_reframed(model, [photo] * 3, boxes, readings, views, sure=0.5)
    assert [(a.number, round(a.confidence, 3), a.rejected) for a in answers] == [
        ("1438", 0.8, None), ("22", 0.9, None), ("", 0.7, "46")]
    assert len(model.frames) == 4
    np.testing.assert_array_equal(model.frames[0], box_frame(photo, (77.0, 40.0, 46.0, 20.0)))
    np.testing.assert_array_equal(model.frames[1], box_frame(photo, (87.0, 40.0, 34.0, 20.0)))


def test_without_views_nothing_is_read_again():
    photo = Image.new("RGB", (100, 60), (200, 200, 200))
    readings = [Reading("", 0.6, "14381", 0.01)]
    model = ScriptedModel(outputs_reading([]))
    assert prefer_reframed(model, [photo], [(40, 20, 30, 12)], readings, views=()) == readings
    assert model.seen == 0
