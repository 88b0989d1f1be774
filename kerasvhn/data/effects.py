"""What the camera and the photo's processing do to a synthetic scene, each with a
probability per image that can be changed or switched off (for ablations):

- "edge_cut": the frame cuts into the first or last digit, or ends right at the
  number, as phone photos of plates filling the frame do (kerasvhn.data.synth
  frames it; what stays visible is described there);
- "low_res": an SVHN-like capture, the number 15 to 40 pixels high, upscaled back;
- "defocus": a lens out of focus (a disc) or a soft Gaussian blur;
- "motion_blur": a short streak in any direction (hand shake);
- "jpeg": JPEG compression, quality 15 to 90;
- "noise": sensor noise, part constant and part growing with the signal, in
  luminance and in colour;
- "domain": domain randomisation, one of a hue rotation, an inversion, greyscale or
  a swap of the colour channels (colours no real photo would have, so that the
  model cannot lean on colour).

DEGRADATIONS are the camera's effects (all but "edge_cut" and "domain"). Every
decision and every parameter comes from one fixed-size block of draws (`draw`),
taken whatever the probabilities are, so switching one effect off leaves the rest of
the image, and the other effects, as they were.

>>> import numpy as np
>>> from kerasvhn.data.effects import check_effects, EFFECTS
>>> check_effects({"domain": 0.0})["domain"], check_effects(None) == EFFECTS
(0.0, True)
"""

import io
import math

import numpy as np
from PIL import Image, ImageFilter

#: The default probability of each effect per image.
EFFECTS = {
    "edge_cut": 0.1,
    "low_res": 0.25,
    "defocus": 0.6,
    "motion_blur": 0.1,
    "jpeg": 0.3,
    "noise": 0.85,
    "domain": 0.1,
}
#: The camera's effects: `degradations=False` (the CLI's --no-degradations) sets them to 0.
DEGRADATIONS = ("low_res", "defocus", "motion_blur", "jpeg", "noise")
_ORDER = tuple(EFFECTS)
_PARAMETERS = 6  # uniforms per effect


def check_effects(effects=None, degradations=True):
    """The probabilities of every effect: EFFECTS updated with `effects` (a dict of
    name: probability); degradations=False switches the camera's effects off."""
    chosen = dict(EFFECTS)
    if not degradations:
        chosen.update({name: 0.0 for name in DEGRADATIONS})
    for name, p in (effects or {}).items():
        if name not in EFFECTS:
            raise ValueError(f"effects must be among {tuple(EFFECTS)}, got {name!r}")
        if not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"effect probability must be between 0 and 1, got {name}={p!r}")
        chosen[name] = float(p)
    return chosen


class Draws:
    """One image's block of draws: whether each effect happens, and its uniforms."""

    __slots__ = ("decide", "uniforms", "probabilities")

    def __init__(self, rng, probabilities):
        self.decide = dict(zip(_ORDER, rng.random(len(_ORDER))))
        self.uniforms = dict(zip(_ORDER, rng.random((len(_ORDER), _PARAMETERS))))
        self.probabilities = probabilities

    def happens(self, name):
        return bool(self.decide[name] < self.probabilities[name])

    def applied(self):
        """The names of the effects this image gets."""
        return tuple(name for name in _ORDER if self.happens(name))


def draw(rng, probabilities):
    """The fixed block of draws for one image (see the module's docstring)."""
    return Draws(rng, probabilities)


def _between(u, lo, hi):
    return lo + (hi - lo) * float(u)


def camera(rng, pixels, char_height, draws):
    """Domain randomisation, low resolution, blur, JPEG and noise on a uint8 RGB PIL
    image whose characters are char_height pixels high; returns a uint8 array."""
    width, height = pixels.size
    if draws.happens("domain"):
        pixels = Image.fromarray(recolour(np.asarray(pixels), draws.uniforms["domain"]))
    if draws.happens("low_res"):
        u = draws.uniforms["low_res"]
        factor = _between(u[0], 15, 40) / max(char_height, 1.0)
        if factor < 0.95:
            low = (max(4, int(round(width * factor))), max(4, int(round(height * factor))))
            up = Image.BICUBIC if u[1] < 0.5 else Image.BILINEAR
            pixels = pixels.resize(low, Image.BILINEAR if u[2] < 0.5 else Image.BOX).resize((width, height), up)
    if draws.happens("defocus"):
        pixels = _defocus(pixels, draws.uniforms["defocus"], height)
    if draws.happens("motion_blur"):
        pixels = _motion_blur(pixels, draws.uniforms["motion_blur"], height)
    if draws.happens("jpeg"):
        buffer = io.BytesIO()
        pixels.save(buffer, format="JPEG", quality=int(_between(draws.uniforms["jpeg"][0], 15, 90)))
        pixels = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out = np.asarray(pixels, np.float32)
    if draws.happens("noise"):
        out = _noise(rng, out, draws.uniforms["noise"])
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _defocus(pixels, u, height):
    radius = _between(u[0], 0.3, 1.3) * height / 64
    if u[1] < 0.5 or radius < 0.8:
        return pixels.filter(ImageFilter.GaussianBlur(radius)) if radius > 0.25 else pixels
    yy, xx = np.mgrid[-2:3, -2:3]
    disc = (np.hypot(xx, yy) <= min(radius, 2.2)).astype(np.float64)
    kernel = ImageFilter.Kernel((5, 5), disc.ravel().tolist(), scale=float(disc.sum()))
    for _ in range(max(1, int(round(radius / 2)))):
        pixels = pixels.filter(kernel)
    return pixels


def _motion_blur(pixels, u, height):
    """A streak of 3 to 5 pixels (twice on large images) in any direction."""
    theta = _between(u[0], 0, math.pi)
    length = _between(u[1], 2.0, 4.5)
    kernel = np.zeros((5, 5))
    for t in np.linspace(-length / 2, length / 2, 9):
        x, y = 2 + t * math.cos(theta), 2 + t * math.sin(theta)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        for xi, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            for yi, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
                if 0 <= xi < 5 and 0 <= yi < 5:
                    kernel[yi, xi] += wx * wy
    kernel = ImageFilter.Kernel((5, 5), kernel.ravel().tolist(), scale=float(kernel.sum()))
    for _ in range(1 + (height > 90)):
        pixels = pixels.filter(kernel)
    return pixels


def _noise(rng, out, u):
    """Sensor noise: constant (read noise) plus growing with the signal (shot noise),
    mostly in luminance, some in colour."""
    sigma = _between(u[0], 1.0, 9.0)
    shot = _between(u[1], 0.0, 0.6)
    colour = _between(u[2], -0.6, 0.6)  # half the time luminance noise alone
    height, width = out.shape[:2]
    grain = rng.standard_normal((height, width, 1), dtype=np.float32)
    if colour > 0.1:  # some noise in each channel of its own
        grain = grain * np.float32(1 - colour) + rng.standard_normal((height, width, 3), dtype=np.float32) * \
            np.float32(colour)
    if shot > 0.05:
        luminance = out.mean(axis=2, keepdims=True)
        grain *= np.float32(1 - shot) + np.float32(shot) * np.sqrt(luminance * np.float32(1 / 128) + 1e-3)
    grain *= np.float32(sigma)
    return out + grain


def recolour(image, u):
    """Domain randomisation of a uint8 RGB image by u (uniforms): hue rotation,
    inversion, greyscale or a channel swap."""
    kind = int(u[0] * 4)
    if kind == 0:
        return _rotate_hue(image, _between(u[1], 0.15, 0.85))
    if kind == 1:
        return 255 - image
    if kind == 2:
        grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.repeat(np.clip(grey + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    permutations = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
    return np.ascontiguousarray(image[..., permutations[int(u[1] * 5) % 5]])


_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)


def _rotate_hue(image, turn):
    """Rotates hues by `turn` of a full circle, keeping luminance (a YIQ rotation)."""
    to_yiq = _TO_YIQ
    angle = 2 * math.pi * turn
    rotation = np.array([[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]],
                        np.float32)
    matrix = np.linalg.inv(to_yiq) @ rotation @ to_yiq
    out = image.astype(np.float32) @ matrix.T.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
