"""The recipe of each preset on real SVHN: epochs, batch size, learning rate, patience.

Goodfellow et al. 2013 (arXiv 1312.6082, section 5.1) publish no optimizer
settings: their network trained for about six days on 10 DistBelief replicas, and
"we picked the best stopping point for each performance measure separately, using
a validation set". The `goodfellow` recipe keeps what the paper does say (the
network, train + extra with `--extra`, random 54x54 crops of the 64x64 frames,
dropout on every hidden layer, the stopping point chosen on a validation set:
best checkpoint and early stopping); Adam with a warm-up and cosine decay
(`kerasvhn.train.cosine_schedule`) and the numbers below are this project's
choices, not the paper's.

>>> resolve_settings("goodfellow", epochs=2)["batch_size"]
128
"""

#: Per architecture preset: the defaults of `kerasvhn train --data`.
RECIPES = {
    "goodfellow": {"epochs": 40, "batch_size": 128, "learning_rate": 1e-3, "patience": 5},
    "seed": {"epochs": 30, "batch_size": 64, "learning_rate": 1e-3, "patience": 5},
    "small": {"epochs": 20, "batch_size": 64, "learning_rate": 2e-3, "patience": 4},
    "small_wide": {"epochs": 20, "batch_size": 64, "learning_rate": 2e-3, "patience": 4},
}


def resolve_settings(preset, **overrides):
    """The recipe of `preset` with the overrides that are not None.

    Raises ValueError for an unknown preset or a setting no recipe has."""
    if preset not in RECIPES:
        raise ValueError(f"no SVHN recipe for preset {preset!r}; choose one of {sorted(RECIPES)}")
    unknown = set(overrides) - set(RECIPES[preset])
    if unknown:
        raise ValueError(f"unknown recipe settings {sorted(unknown)}; a recipe has {sorted(RECIPES[preset])}")
    return {**RECIPES[preset], **{key: value for key, value in overrides.items() if value is not None}}
