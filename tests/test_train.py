"""kerasvhn.train: the learning-rate schedule every recipe uses, and the training clock."""

import math

import keras
import numpy as np
import pytest

from kerasvhn.train import TrainingClock, cosine_schedule


def reference_schedule(peak, steps_per_epoch, epochs, step):
    """Linear warm-up from peak / 10 over half an epoch (at most a tenth of training),
    then cosine decay to 1% of the peak."""
    total = steps_per_epoch * epochs
    warmup = min(steps_per_epoch // 2, total // 10)
    if step < warmup:
        return peak / 10 + (peak - peak / 10) * step / warmup
    done = min(step - warmup, max(1, total - warmup)) / max(1, total - warmup)
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * done)))


@pytest.mark.parametrize("steps_per_epoch, epochs", [(100, 5), (7, 1), (1, 3)])
def test_cosine_schedule_warms_up_then_decays_to_a_hundredth(steps_per_epoch, epochs):
    schedule = cosine_schedule(2e-3, steps_per_epoch, epochs)
    total = steps_per_epoch * epochs
    for step in sorted({0, 1, steps_per_epoch // 2, total // 2, total - 1, total, total + 5}):
        value = float(keras.ops.convert_to_numpy(schedule(step)))
        assert value == pytest.approx(reference_schedule(2e-3, steps_per_epoch, epochs, step), rel=1e-4), step
    assert float(keras.ops.convert_to_numpy(schedule(total))) == pytest.approx(2e-5, rel=1e-4)


def test_training_clock_leaves_out_the_first_epoch_and_validation():
    clock = TrainingClock()
    clock.seconds = [10.0, 2.0, 2.0]  # the first epoch traces and compiles
    assert clock.images_per_second(100) == pytest.approx(50.0)
    clock.seconds = [4.0]
    assert clock.images_per_second(100) == pytest.approx(25.0)
    clock.on_epoch_begin(0)
    clock.on_test_begin()  # validation starts: the training time stops here
    stopped = clock._end
    clock.on_epoch_end(0)
    assert clock.seconds[-1] == pytest.approx(stopped - clock._start) and np.isfinite(clock.seconds[-1])
