"""FGSM and PGD (L-infinity) on the multi-digit model, batched, on every backend.

The loss an attack follows is the model's own masked multi-head loss
(`kerasvhn.multi_digit_loss`): an untargeted attack ascends it for the true number,
a targeted attack descends it for the target number. Images are floats in the clip
range (by default [0, 1]); results stay inside the eps-ball around them and inside
the clip range. The model runs with `training=False` (batch normalization on its
moving statistics, which stay untouched; dropout off).
"""

import dataclasses
import functools
import re

import keras
import numpy as np
from keras import ops

from kerasvhn import fused
from kerasvhn.adversarial import backend


def fgsm_step(x, x0, grad, step, eps, lo, hi):
    """One signed-gradient step: `x + step * sign(grad)`, projected onto the
    L-infinity ball of radius eps around x0, then clipped to [lo, hi].

    On the torch backend with CUDA tensors the fused Triton kernel
    (`kerasvhn.kernels.fgsm_step`) runs when it is installed; everywhere else this
    is keras.ops. x0 must lie in [lo, hi]; the result then lies in both the ball
    and the clip range.

    >>> import numpy as np
    >>> x0 = np.array([0.5, 0.5, 0.98], "float32")
    >>> out = fgsm_step(x0, x0, np.array([1.0, -1.0, 1.0]), 0.1, 0.05, 0.0, 1.0)
    >>> [round(float(v), 3) for v in keras.ops.convert_to_numpy(out)]
    [0.55, 0.45, 1.0]
    """
    if keras.backend.backend() == "torch" and fused.resolve_fused("auto", "fgsm_step", x):
        kernel = fused.kernel_module("fgsm_step")
        return kernel.fgsm_step(x, x0, grad, float(step), float(eps), float(lo), float(hi))
    x = ops.convert_to_tensor(x)
    dtype = keras.backend.standardize_dtype(x.dtype)
    x0, grad = ops.cast(x0, dtype), ops.cast(grad, dtype)
    x = x + step * ops.sign(grad)
    x = ops.minimum(ops.maximum(x, x0 - eps), x0 + eps)
    return ops.minimum(ops.maximum(x, lo), hi)


def perturb(model, x0, y, start, step, eps, lo, hi, steps, direction, variables=None):
    """`steps` signed-gradient steps from `start`, each one batched gradient
    computation. The core of every attack and of the adversarial training step
    (keras.ops, traceable; `variables` as in `backend.input_gradient`)."""

    def one_step(_, x):
        grad = backend.input_gradient(model, x, y, direction, variables)
        return fgsm_step(x, x0, grad, step, eps, lo, hi)

    # A loop op rather than an unrolled loop: compiling PGD-10 costs one step.
    x = one_step(0, start) if steps == 1 else ops.fori_loop(0, steps, one_step, start)
    return ops.stop_gradient(x)


@dataclasses.dataclass(frozen=True)
class AttackSpec:
    """An attack by name: its number of steps, random start and step (a multiple
    of eps)."""

    name: str
    steps: int
    random_start: bool
    step_factor: float


def parse_attack(name):
    """"fgsm", "fgsm-rs" (random start, step 1.25 eps; Wong et al. 2020) or "pgd-N"
    (N steps of 2.5 eps / N from a random start; Madry et al. 2018).

    >>> parse_attack("pgd-10")
    AttackSpec(name='pgd-10', steps=10, random_start=True, step_factor=0.25)
    """
    text = str(name).strip().lower()
    if text == "fgsm":
        return AttackSpec("fgsm", 1, False, 1.0)
    if text == "fgsm-rs":
        return AttackSpec("fgsm-rs", 1, True, 1.25)
    match = re.fullmatch(r"pgd-([1-9][0-9]*)", text)
    if match:
        steps = int(match.group(1))
        return AttackSpec(text, steps, True, 2.5 / steps)
    raise ValueError(f'unknown attack {name!r}; use "fgsm", "fgsm-rs" or "pgd-N" (e.g. "pgd-10")')


def fgsm(model, x, y, eps, clip=(0.0, 1.0), targeted=False, random_start=False, seed=None):
    """The fast gradient sign method (Goodfellow et al. 2014), batched.

    With `random_start=True`, FGSM-RS (Wong et al. 2020): a uniform start in the
    eps-ball, then one step of 1.25 eps, projected back onto the ball.

    Args:
        model: a MultiDigitNet, or any model with its output dict.
        x: images (B, H, W, 3), floats in the clip range.
        y: labels `{"length": (B,), "digits": (B, max_digits)}`: the true numbers,
            or the target numbers when `targeted=True`.
        eps: the L-infinity radius (in the images' scale: 8/255 for [0, 1]).
        clip: the valid pixel range.
        targeted: descend the loss of the target labels instead of ascending.
        random_start, seed: the random start and its NumPy seed (the same seed
            gives the same images on every backend).

    Returns the adversarial images as a backend tensor (`keras.ops.convert_to_numpy`).

    >>> import numpy as np, kerasvhn
    >>> model = kerasvhn.MultiDigitNet("small")
    >>> x = np.random.default_rng(0).uniform(size=(2, 54, 54, 3)).astype("float32")
    >>> x_adv = kerasvhn.fgsm(model, x, kerasvhn.encode_numbers(["12", "7"]), eps=8 / 255)
    >>> bool(np.abs(keras.ops.convert_to_numpy(x_adv) - x).max() <= 8 / 255 + 1e-6)
    True
    """
    step = 1.25 * eps if random_start else eps
    return _attack(model, x, y, eps, step, 1, random_start, targeted, clip, seed)


def pgd(model, x, y, eps, step, steps, random_start=True, targeted=False, clip=(0.0, 1.0), seed=None):
    """Projected gradient descent in the L-infinity ball (Madry et al. 2018), batched;
    without the random start it is the basic iterative method (Kurakin et al. 2016).

    Each of the `steps` iterations is one batched gradient computation, a signed
    step of size `step`, the projection onto the eps-ball and the clip. Arguments
    and result as in `fgsm`.
    """
    return _attack(model, x, y, eps, step, steps, random_start, targeted, clip, seed)


def run_attack(model, x, y, eps, attack="fgsm", clip=(0.0, 1.0), targeted=False, seed=None):
    """The attack named by `parse_attack` ("fgsm", "fgsm-rs", "pgd-10", ...)."""
    spec = parse_attack(attack)
    step = spec.step_factor * eps
    return _attack(model, x, y, eps, step, spec.steps, spec.random_start, targeted, clip, seed)


def _labels(y):
    length, digits = (y["length"], y["digits"]) if isinstance(y, dict) else y
    length = ops.reshape(ops.cast(ops.convert_to_tensor(length), "int32"), (-1,))
    return {"length": length, "digits": ops.cast(ops.convert_to_tensor(digits), "int32")}


def _check_arguments(eps, step, steps, clip):
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    if not step >= 0:
        raise ValueError(f"step must be >= 0, got {step!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    lo, hi = clip
    if not lo < hi:
        raise ValueError(f"clip must be (low, high) with low < high, got {clip!r}")
    return float(lo), float(hi)


def _attack(model, x, y, eps, step, steps, random_start, targeted, clip, seed):
    lo, hi = _check_arguments(eps, step, steps, clip)
    x0 = ops.convert_to_tensor(x, "float32")
    if len(ops.shape(x0)) != 4 or ops.shape(x0)[0] == 0:
        raise ValueError(f"x must be a non-empty batch of images (B, H, W, C), got shape {ops.shape(x0)}")
    y = _labels(y)
    if ops.shape(y["length"])[0] != ops.shape(x0)[0]:
        raise ValueError(
            f"x has {ops.shape(x0)[0]} images but y has {ops.shape(y['length'])[0]} labels"
        )
    start = x0
    if random_start:
        noise = np.random.default_rng(seed).uniform(-eps, eps, size=tuple(ops.shape(x0)))
        start = ops.clip(x0 + ops.convert_to_tensor(noise.astype(np.float32)), lo, hi)
    direction = -1.0 if targeted else 1.0
    attack = backend.compiled_attack(
        model,
        ("perturb", int(steps), direction),
        functools.partial(_compiled_perturb, model, steps=int(steps), direction=direction),
    )
    scalars = [ops.convert_to_tensor(float(v), "float32") for v in (step, eps, lo, hi)]
    return attack(x0, start, y, *scalars)


def _compiled_perturb(model, x0, start, y, step, eps, lo, hi, steps, direction, variables=None):
    return perturb(model, x0, y, start, step, eps, lo, hi, steps, direction, variables)
