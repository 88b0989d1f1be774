"""Architectures of MultiDigitNet as plain config dicts.

Each conv layer is `{"filters", "kernel_size", "strides", "pool"}`: a ConvBNReLU with
those filters, kernel and strides, then (if `pool` is not None) 2x2 max pooling
with that stride and "same" padding.
"""

import copy


def _conv(filters, kernel_size, pool=None, strides=1):
    return {"filters": filters, "kernel_size": kernel_size, "strides": strides, "pool": pool}


def _widened(preset, factor):
    wide = copy.deepcopy(preset)
    for layer in wide["conv_layers"]:
        layer["filters"] = round(layer["filters"] * factor)
    wide["dense_units"] = [round(units * factor) for units in wide["dense_units"]]
    return wide


PRESETS = {
    # Goodfellow et al. 2013 (arXiv 1312.6082), their best network: eight conv layers
    # of 48, 64, 128, 160 then 192 units, 5x5 kernels, 2x2 max pooling with strides
    # alternating 2 and 1, two fully connected layers of 3072, dropout everywhere.
    "goodfellow": {
        "input_shape": (54, 54, 3),
        "conv_layers": [
            _conv(f, 5, pool=s) for f, s in zip((48, 64, 128, 160, 192, 192, 192, 192), (2, 1) * 4)
        ],
        "dense_units": [3072, 3072],
        "conv_dropout": 0.2,
        "dense_dropout": 0.5,
    },
    # The course project this product grew from: five conv layers with pooling and
    # two dense layers (its six 11-way softmax heads map onto our length head and
    # five 10-way digit heads).
    "seed": {
        "input_shape": (54, 54, 3),
        "conv_layers": [
            _conv(32, 3, pool=2),
            _conv(64, 3, pool=2),
            _conv(128, 3, pool=2),
            _conv(128, 3, pool=2),
            _conv(256, 3, pool=2),
        ],
        "dense_units": [1024, 512],
        "conv_dropout": 0.1,
        "dense_dropout": 0.5,
    },
    # Small and fast on CPU: the default for demos, tests and the shipped model.
    "small": {
        "input_shape": (54, 54, 3),
        "conv_layers": [
            _conv(32, 5, strides=2),
            _conv(64, 3, pool=2),
            _conv(96, 3, pool=2),
            _conv(128, 3),
            _conv(160, 3, pool=2),
        ],
        "dense_units": [512],
        "conv_dropout": 0.1,
        "dense_dropout": 0.3,
    },
}
# "small" half as wide again (filters and dense units x1.5): about twice its
# compute, for more varied synthetic data.
PRESETS["small_wide"] = _widened(PRESETS["small"], 1.5)


def preset_config(name):
    """A copy of the named preset's config dict."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


#: The style weights of small_synthetic's eighth stage, written out as trained (a record,
#: not tied to later defaults): kerasvhn.data.styles.DEFAULT_WEIGHTS with vertical numbers
#: at 2 (0.5) and stencils at 1 (0.5), the two styles stage 7 read worst (56% and 84% of
#: 300 synthetic benchmark images each, against 88-99% for the others).
STAGE8_STYLES = {"classic": 3.0, "metal_plate": 1.5, "mounted": 1.5, "enamel": 1.0, "sign": 0.75, "tile": 0.5,
                 "glass": 0.5, "stencil": 1.0, "lightbox": 0.5, "vertical": 2.0}

#: The training seeds of the shipped model's stages on located crops (stage 9 is seed 9).
LOCATED_SEEDS = (9, 10)

#: Trained weights shipped inside the package: name -> architecture preset, weights
#: file (in kerasvhn/weights/) and the commands that reproduce it.
PRETRAINED = {
    "small_synthetic": {
        "preset": "small_wide",
        "weights": "small_synthetic.weights.h5",
        # Stage 1: crops around the number; stage 2: 15% of whole-photo framings too
        # (both on the generator of commit 1b81720, before images had purposes; stage
        # 2's weights are that commit's kerasvhn/weights/small_synthetic.weights.h5);
        # stage 3: today's generator (version 2: ten styles, camera effects); stages 4
        # and 5: 300,000 new images of it each (train seeds 1 and 2), 2 epochs; stage 6:
        # stage 5 widened to small_wide (Net2WiderNet, kerasvhn.widening), then 250,000
        # new images (train seed 3), 2 epochs; stage 7: 300,000 new images (train seed
        # 4), 2 epochs; stage 8: 250,000 new images (train seed 5) with vertical numbers
        # four times and stencils twice their default weight (STAGE8_STYLES), 2 epochs;
        # stages 9 and up (LOCATED_SEEDS): 60,000 new framed images with stage 8's
        # styles and the located crops of 17,500 new synthetic whole photos (the numbers
        # cut out as the two stages frame a located box, kerasvhn.data.located_crops),
        # 1 epoch each. Stage 5's weights are commit 8076490's, stage 6's commit
        # 5dd9fd0's, stage 7's commit e0c2d2d's, stage 8's commit f67c779's
        # kerasvhn/weights/small_synthetic.weights.h5.
        "recipe": "KERAS_BACKEND=tensorflow kerasvhn train stage1.weights.h5 "
        "--preset small --count 100000 --epochs 14 --seed 0 --photo-share 0 && "
        "KERAS_BACKEND=tensorflow kerasvhn train stage2.weights.h5 "
        "--initial-weights stage1.weights.h5 --count 100000 --epochs 3 --seed 1 --learning-rate 5e-4 && "
        "KERAS_BACKEND=tensorflow kerasvhn train stage3.weights.h5 --preset small "
        "--initial-weights stage2.weights.h5 --count 100000 --epochs 2 --seed 0 --learning-rate 5e-4 && "
        "KERAS_BACKEND=tensorflow kerasvhn train stage4.weights.h5 --preset small "
        "--initial-weights stage3.weights.h5 --count 300000 --epochs 2 --seed 1 --learning-rate 5e-4 && "
        "KERAS_BACKEND=tensorflow kerasvhn train stage5.weights.h5 --preset small "
        "--initial-weights stage4.weights.h5 --count 300000 --epochs 2 --seed 2 --learning-rate 3e-4 && "
        "KERAS_BACKEND=tensorflow kerasvhn train stage6.weights.h5 --preset small_wide "
        "--widen-from stage5.weights.h5 --count 250000 --epochs 2 --seed 3 --learning-rate 3e-4 && "
        "KERAS_BACKEND=tensorflow kerasvhn train stage7.weights.h5 --preset small_wide "
        "--initial-weights stage6.weights.h5 --count 300000 --epochs 2 --seed 4 --learning-rate 3e-4 && "
        "KERAS_BACKEND=tensorflow kerasvhn train stage8.weights.h5 --preset small_wide "
        "--initial-weights stage7.weights.h5 --count 250000 --epochs 2 --seed 5 --learning-rate 3e-4 "
        + " ".join(f"--style {name}={weight:g}" for name, weight in STAGE8_STYLES.items())
        + "".join(
            f" && KERAS_BACKEND=tensorflow kerasvhn train "
            f"{'small_synthetic' if seed == LOCATED_SEEDS[-1] else f'stage{seed}'}.weights.h5 --preset small_wide "
            f"--initial-weights stage{seed - 1}.weights.h5 --count 60000 --epochs 1 --seed {seed} "
            f"--learning-rate 2e-4 --located-photos 16000 --located-large-photos 1500 "
            + " ".join(f"--style {name}={weight:g}" for name, weight in STAGE8_STYLES.items())
            for seed in LOCATED_SEEDS),
        # Stages 1 and 2 drew from the streams [seed, index, split] of the generator
        # before purposes (training seeds 0 and 1, validation seeds 2 and 3): no
        # purpose-keyed stream can repeat them. Stage 3 drew purposes train and
        # validation, seed 0; stage 4 the same purposes, seed 1; stage 5 seed 2; stage 6 seed 3;
        # stage 7 seed 4; stage 8 seed 5, with its styles; stage 9 and up seeds 9 and up, with
        # stage 8's styles, and the photos of purpose train of those seeds (photo_scenes);
        # stage 9 was run from a scratch script that drew 1,000 validation images, not the
        # command's 2,000: the larger count is recorded (they are only scored, never fitted).
        "training_streams": [
            *({"purpose": "legacy", "seed": seed, "split": "train", "count": count}
              for seed, count in ((0, 100_000), (2, 2_000), (1, 100_000), (3, 2_000))),
            *({"purpose": purpose, "seed": seed, "split": "train", "count": count if purpose == "train" else 2_000,
               "generator": 2, "photo_share": 0.15}
              for seed, count in ((0, 100_000), (1, 300_000), (2, 300_000), (3, 250_000), (4, 300_000))
              for purpose in ("train", "validation")),
            *({"purpose": purpose, "seed": 5, "split": "train", "count": count, "generator": 2,
               "photo_share": 0.15, "styles": dict(STAGE8_STYLES)}
              for purpose, count in (("train", 250_000), ("validation", 2_000))),
            *(stream for seed in LOCATED_SEEDS for stream in (
                *({"purpose": purpose, "seed": seed, "split": "train", "count": count, "generator": 2,
                   "photo_share": 0.15, "styles": dict(STAGE8_STYLES)}
                  for purpose, count in (("train", 60_000), ("validation", 2_000))),
                {"purpose": "train", "seed": seed, "split": "train", "count": 17_500,
                 "generator": "photo_scenes-2", "located": [16_000, 1_500]})),
        ],
    },
}


def pretrained_weights_path(name):
    """The path of a shipped weights file; a clear error when it is missing."""
    import os

    if name not in PRETRAINED:
        raise ValueError(f"unknown pretrained model {name!r}; choose one of {sorted(PRETRAINED)}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", PRETRAINED[name]["weights"])
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the weights of {name!r} are missing from this installation ({path})")
    return path
