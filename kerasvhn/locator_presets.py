"""The NumberLocator's architectures and its shipped weights, as plain config dicts
(no Keras here: the command line reads them to build its help)."""

import copy
import os

#: locator_small's zoom: read at twice the size, keep boxes under 5% of the photo's width
#: scoring 0.5 or more. Chosen on the locator's 400 synthetic validation photos (two-stage
#: readings right), rendered at the training size (320-640 px) and at 800-1280 px.
ZOOM_FACTOR, ZOOM_MAX_WIDTH, ZOOM_MIN_SCORE = 2.0, 0.05, 0.5
#: locator_small's second look (kerasvhn.second_look): each box located again in a window
#: twice its longer side read at 256 x 256. Chosen on the same photos (two-stage readings
#: right) over windows of 1.5, 2, 2.5 or 3 times the box read at 192 to 384 pixels.
SECOND_LOOK = [2.0, 256]

#: Architectures: `backbone` is a list of [filters, strides] ConvBNReLU 3x3 layers (the
#: total stride must reach 32); `neck` the pyramid's channels; `head` the channels of
#: the layer both outputs read; `input_size` the side photos are resized to; `scales`
#: the factors of input_size a photo is read at (boxes of every scale are merged);
#: `zoom` one more, larger reading, [factor, max_width, min_score], whose boxes are
#: kept only when narrower than max_width of the photo and scoring at least min_score
#: (small numbers, which the other scales give too few pixels), or [] for none;
#: `second_look` [factor, side]: each box located again in a window factor times its
#: longer side, read at side x side pixels, or [] for none.
LOCATOR_PRESETS = {
    # About 0.7 G multiply-adds on a 512 x 512 input (0.9 G with the 256 x 256 pass),
    # 0.5 M parameters.
    "locator_small": {
        "input_size": 512,
        "backbone": [[16, 2], [32, 2], [64, 2], [64, 1], [96, 2], [96, 1], [128, 2], [128, 1]],
        "neck": 64,
        "head": 48,
        "scales": [1.0, 0.5],
        "zoom": [ZOOM_FACTOR, ZOOM_MAX_WIDTH, ZOOM_MIN_SCORE],
        "second_look": SECOND_LOOK,
    },
    # Half the channels: for tests and quick checks.
    "locator_tiny": {
        "input_size": 256,
        "backbone": [[8, 2], [16, 2], [24, 2], [32, 2], [48, 2]],
        "neck": 24,
        "head": 16,
        "scales": [1.0],
        "zoom": [],
        "second_look": [],
    },
}

#: Trained locators shipped inside the package: name -> architecture preset, weights
#: file (in kerasvhn/weights/), min_score and the command that reproduces it.
PRETRAINED_LOCATORS = {
    # On photo generator version 1: 6,000 synthetic photos: 2 of 5 epochs at a peak of
    # 2e-3 (stopped there), then 2 more epochs from those weights at 1e-3; then with 4,000
    # more photos (seed 1): 2 epochs at 1e-3, 6 at 1e-3, 6 at 5e-4, each from the last
    # (commit b76e74e's weights). Then on version 2 (a quarter of the numbers spread apart):
    # 10,000 photos (seeds 0 and 1), 3 epochs at 5e-4; then 30,000 (seeds 0 to 3), 4 epochs
    # at 5e-4. Chosen over the previous weights on 400 synthetic validation photos per size
    # (two-stage readings right, bench/locator_choice.py); min_score chosen on them too (0.3
    # the best of 0.1 to 0.5). 2.2 MB of float32 weights.
    "locator_synthetic": {
        "preset": "locator_small",
        "weights": "locator_synthetic.weights.h5",
        "min_score": 0.3,
        # Stages 1 to 5 drew photo generator version 1, so the recipe runs them at commit
        # b76e74e and returns (`git checkout -`) for stages 6 and 7.
        "recipe": " && ".join([
            "git checkout b76e74e",
            *(f"KERAS_BACKEND=tensorflow kerasvhn train_locator {out} {options} --validation-count 400 --seed 0"
              for out, options in (
                  ("stage1.weights.h5", "--count 6000 --epochs 5 --stop-after 2"),
                  ("stage2.weights.h5", "--initial-weights stage1.weights.h5 --count 6000 --epochs 2 "
                   "--learning-rate 1e-3"),
                  ("stage3.weights.h5", "--initial-weights stage2.weights.h5 --count 6000 --more-photos 1:4000 "
                   "--epochs 2 --learning-rate 1e-3"),
                  ("stage4.weights.h5", "--initial-weights stage3.weights.h5 --count 6000 --more-photos 1:4000 "
                   "--epochs 6 --learning-rate 1e-3"),
                  ("stage5.weights.h5", "--initial-weights stage4.weights.h5 --count 6000 "
                   "--more-photos 1:4000 --epochs 6 --learning-rate 5e-4"))),
            "git checkout -",
            *(f"KERAS_BACKEND=tensorflow kerasvhn train_locator {out} {options} --validation-count 400 --seed 0"
              for out, options in (
                  ("stage6.weights.h5", "--initial-weights stage5.weights.h5 --count 6000 "
                   "--more-photos 1:4000 --epochs 3 --learning-rate 5e-4"),
                  ("locator_synthetic.weights.h5", "--initial-weights stage6.weights.h5 --count 6000 "
                   "--more-photos 1:4000 --more-photos 2:10000 --more-photos 3:10000 --epochs 4 "
                   "--learning-rate 5e-4")))]),
        "training_streams": [
            {"purpose": "train", "seed": 0, "split": "train", "count": 6_000, "generator": "photo_scenes-1"},
            {"purpose": "train", "seed": 1, "split": "train", "count": 4_000, "generator": "photo_scenes-1"},
            {"purpose": "validation", "seed": 0, "split": "train", "count": 400, "generator": "photo_scenes-1"},
            *({"purpose": "train", "seed": seed, "split": "train", "count": count, "generator": "photo_scenes-2"}
              for seed, count in ((0, 6_000), (1, 4_000), (2, 10_000), (3, 10_000))),
            {"purpose": "validation", "seed": 0, "split": "train", "count": 400, "generator": "photo_scenes-2"}],
    },
}


def locator_preset_config(name):
    """A copy of the named architecture's config dict."""
    if name not in LOCATOR_PRESETS:
        raise ValueError(f"unknown locator preset {name!r}; choose one of {sorted(LOCATOR_PRESETS)}")
    return copy.deepcopy(LOCATOR_PRESETS[name])


def pretrained_locator_path(name):
    """The path of a shipped locator's weights; a clear error when it is missing."""
    if name not in PRETRAINED_LOCATORS:
        raise ValueError(f"unknown pretrained locator {name!r}; choose one of {sorted(PRETRAINED_LOCATORS)}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", PRETRAINED_LOCATORS[name]["weights"])
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the weights of the locator {name!r} are not in this installation ({path}); "
                                "train one with `kerasvhn train_locator` and pass it with --locator")
    return path


def shipped_locator_available(name="locator_synthetic"):
    """Whether the shipped locator's weights are installed."""
    try:
        pretrained_locator_path(name)
    except FileNotFoundError:
        return False
    return True
