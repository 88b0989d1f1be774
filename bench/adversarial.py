"""How much attacks and adversarial training cost, against what they are compared with,
on the active Keras backend (KERAS_BACKEND), measured side by side in one run.

    KERAS_BACKEND=tensorflow python bench/adversarial.py [--preset small] [--batch 32]
                                                         [--batches 4] [--rounds 7] [--replays 4]
                                                         [--json out.json]

Ratios (the targets of issue 5):
- one FGSM batch / one training step (forward + backward + Adam update) on the same
  batch: at most 1.15;
- the ancestor project's attack (one image at a time: an eager gradient of the mean
  squared error between the softmax outputs and the one-hot labels) / batched FGSM,
  per image: at least 8;
- an FGSM-AT epoch (AdversarialTraining, FGSM with a random start) / a clean epoch:
  at most 2.1, for ratio 0.5 (the default) and ratio 1 (Wong et al.'s FGSM-AT);
- a free-mode epoch (AdversarialTraining(attack="free-4"): every batch replayed 4
  times) per pass over the data / a clean epoch: at most 1.3.
The measured calls take turns, in a new random order every round, after a warm-up
round that compiles everything; each figure is a median. The adversarially trained models are separate
models with adversarial training switched on once, so timed epochs compile nothing.
"""

import argparse
import gc
import json
import os
import random
import statistics
import sys
import time

import keras
import numpy as np
from keras import ops

import kerasvhn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine_description, markdown_table, time_per_call  # noqa: E402

EPS = 8 / 255


def ancestor_attack(model, x, y, eps):
    """The ancestor project's FGSM: per image, an eager gradient of the MSE between
    the softmax outputs and the one-hot labels (there: a tf.GradientTape loop)."""
    backend = keras.backend.backend()
    targets = {
        "length": ops.convert_to_tensor(np.eye(model.output["length"].shape[-1], dtype="float32")[y["length"]]),
        "digits": ops.convert_to_tensor(np.eye(10, dtype="float32")[y["digits"]]),
    }

    def mse(outputs, index):
        return sum(
            ops.mean((ops.softmax(outputs[key], axis=-1) - targets[key][index : index + 1]) ** 2)
            for key in ("length", "digits")
        )

    adversarial = []
    for index in range(len(x)):
        image = x[index : index + 1]
        if backend == "tensorflow":
            import tensorflow as tf

            image = tf.convert_to_tensor(image)
            with tf.GradientTape() as tape:
                tape.watch(image)
                loss = mse(model(image, training=False), index)
            grad = tape.gradient(loss, image)
        elif backend == "torch":
            import torch

            image = torch.tensor(image, requires_grad=True)
            loss = mse(model(image, training=False), index)
            (grad,) = torch.autograd.grad(loss, image)
        else:
            import jax

            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]

            def loss_of(images):
                outputs, _ = model.stateless_call(trainable, non_trainable, images, training=False)
                return mse(outputs, index)

            grad = jax.grad(loss_of)(image)
        adversarial.append(ops.convert_to_numpy(ops.clip(image + eps * ops.sign(grad), 0.0, 1.0)))
    return np.concatenate(adversarial)


def interleaved_medians(calls, rounds, warmup=1, seed=0):
    """Median seconds of each named call. The calls take turns, in a new random
    order every round, so that a busy machine slows them all alike and no periodic
    stall lines up with one of them; the garbage collector runs between calls, not
    during them (as in timeit)."""
    order = list(calls)
    rng = random.Random(seed)
    seconds = {name: [] for name in calls}
    for round_index in range(warmup + rounds):
        rng.shuffle(order)
        for name in order:
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                calls[name]()
                elapsed = time.perf_counter() - start
            finally:
                gc.enable()
            if round_index >= warmup:
                seconds[name].append(elapsed)
    return {name: statistics.median(seconds[name]) for name in calls}


def adversarially_training(model, **kwargs):
    """Switches adversarial training on for every later fit of `model` (what the
    callback does at the start of a fit), so that timed fits compile nothing."""
    callback = kerasvhn.AdversarialTraining(**kwargs)
    callback.set_model(model)
    callback.on_train_begin()
    return model


def measure(preset, batch, batches, rounds, baseline_images, replays):
    count = batch * batches
    x, y = _random_data(count)
    models = _models(preset, replays)
    times = _measured_times(models, x, y, batch, rounds, baseline_images, replays)
    images = _images_per_call(count, baseline_images, replays)
    return {
        "backend": keras.backend.backend(),
        "preset": preset,
        "batch": batch,
        "rounds": rounds,
        "replays": replays,
        "machine": machine_description(),
        "rows": _rows(times, images, batch, batches, baseline_images, replays),
        "ratios": {k: {"ratio": v, "target": t} for k, (v, t) in _ratios(times, images, batch, replays).items()},
    }


def _random_data(count):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(count, 54, 54, 3)).astype("float32")
    y = kerasvhn.encode_numbers([str(n) for n in rng.integers(0, 10**4, size=count)])
    return x, y


def _compiled_model(preset):
    model = kerasvhn.MultiDigitNet(preset)
    model.compile(optimizer="adam")
    return model


def _models(preset, replays):
    """(clean, FGSM-AT ratio 0.5, FGSM-AT ratio 1, free-mode) compiled models."""
    return (
        _compiled_model(preset),
        adversarially_training(_compiled_model(preset), eps=EPS, ratio=0.5, attack="fgsm-rs", ramp_epochs=0),
        adversarially_training(_compiled_model(preset), eps=EPS, ratio=1.0, attack="fgsm-rs", ramp_epochs=0),
        adversarially_training(_compiled_model(preset), eps=EPS, attack=f"free-{replays}", ramp_epochs=0),
    )


def _measured_times(models, x, y, batch, rounds, baseline_images, replays):
    """Median seconds of each timed call, by the names the rows show."""
    model, at_half, at_full, free = models
    xb, yb = x[:batch], {k: v[:batch] for k, v in y.items()}
    few = {k: v[:baseline_images] for k, v in yb.items()}

    def epoch(m):
        return lambda: m.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)

    times = interleaved_medians(
        {
            "training step (batch)": lambda: model.train_on_batch(xb, yb),
            "FGSM (batch)": lambda: ops.convert_to_numpy(kerasvhn.fgsm(model, xb, yb, EPS)),
            "clean epoch": epoch(model),
            "FGSM-AT epoch, ratio 0.5": epoch(at_half),
            "FGSM-AT epoch, ratio 1": epoch(at_full),
            f"free epoch, {replays} replays": epoch(free),
        },
        rounds,
    )
    times["ancestor per-image FGSM"] = time_per_call(
        lambda: ancestor_attack(model, xb[:baseline_images], few, EPS), warmup=1, repeats=3
    )
    return times


def _images_per_call(count, baseline_images, replays):
    """Images each timed call handles, where that is not one batch."""
    images = {"ancestor per-image FGSM": baseline_images, "clean epoch": count}
    images["FGSM-AT epoch, ratio 0.5"] = images["FGSM-AT epoch, ratio 1"] = count
    images[f"free epoch, {replays} replays"] = count * replays
    return images


def _rows(times, images, batch, batches, baseline_images, replays):
    notes = {
        "ancestor per-image FGSM": f"{baseline_images} images, one at a time",
        "clean epoch": f"{batches} batches",
        "FGSM-AT epoch, ratio 0.5": "fgsm-rs on half of each batch",
        "FGSM-AT epoch, ratio 1": "fgsm-rs on every image",
        f"free epoch, {replays} replays": f"{replays} passes over the data; ms/image per pass",
    }
    return [
        {
            "what": name,
            "ms": seconds * 1e3,
            "ms_per_image": seconds * 1e3 / images.get(name, batch),
            "note": notes.get(name, ""),
        }
        for name, seconds in times.items()
    ]


def _ratios(times, images, batch, replays):
    """name -> (measured ratio, target) of issue 5's targets."""
    per_image = {name: seconds / images.get(name, batch) for name, seconds in times.items()}
    return {
        "fgsm_batch_vs_training_step": (times["FGSM (batch)"] / times["training step (batch)"], "<= 1.15"),
        "ancestor_vs_fgsm_per_image": (per_image["ancestor per-image FGSM"] / per_image["FGSM (batch)"], ">= 8"),
        "fgsm_at_epoch_vs_clean_ratio_0.5": (times["FGSM-AT epoch, ratio 0.5"] / times["clean epoch"], "<= 2.1"),
        "fgsm_at_epoch_vs_clean_ratio_1": (times["FGSM-AT epoch, ratio 1"] / times["clean epoch"], "<= 2.1"),
        "free_pass_vs_clean": (times[f"free epoch, {replays} replays"] / replays / times["clean epoch"], "<= 1.3"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=4, help="batches per epoch")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (after one warm-up round)")
    parser.add_argument("--baseline-images", type=int, default=8)
    parser.add_argument("--replays", type=int, default=4, help="free mode: replays of each batch")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    result = measure(args.preset, args.batch, args.batches, args.rounds, args.baseline_images, args.replays)
    print(
        f"\nAdversarial cost, preset {result['preset']}, batch {result['batch']}, "
        f"backend {result['backend']}, {result['machine']}\n"
    )
    print(
        markdown_table(
            result["rows"],
            [("what", "what", "{}"), ("ms", "ms", "{:.1f}"), ("ms_per_image", "ms/image", "{:.2f}"), ("note", "note", "{}")],
        )
    )
    print("\nratio                               measured  target")
    for name, entry in result["ratios"].items():
        measured = "-" if entry["ratio"] is None else f"{entry['ratio']:.2f}"
        print(f"{name:<35} {measured:>8}  {entry['target']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
