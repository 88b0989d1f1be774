"""NumberLocator: where the house numbers are in a whole photo.

A small fully convolutional network in the spirit of CenterNet (Zhou et al. 2019,
"Objects as points"): no anchors; for every cell of a grid of STRIDE x STRIDE pixels
it predicts a logit that a house number's centre lies in that cell (`"heat"`) and the
number's box (`"box"`: the centre's offset from the cell's centre and the log of the
width and height, in cells). The backbone is ConvBNReLU layers down to stride 32; a
feature pyramid brings strides 32 and 16 back to STRIDE (Lin et al. 2017), so that
one output grid sees numbers from about 8 pixels to most of the photo wide.

A photo of any size is resized, keeping its aspect ratio, so that its long side is
the locator's `input_size` (512 for "locator_small"), padded at the right and bottom
to a square by repeating its edge pixels, and read in one pass, then once more at each
other of its `scales` (half the size for "locator_small": numbers wider than the
training windows, in photos framed around them, fit there), and once at its `zoom`
(twice the size for "locator_small"), whose boxes are kept only when small (under 5%
of the photo's width: numbers the other readings give too few pixels) and sure (a
score of 0.5 or more), as SNIP (Singh and Davis 2018) gives each scale the sizes it
reads well; boxes come back in the
photo's own pixels (`Box`: left, top, width, height, score), divided by the exact
factors the resize used (`fit_photo`). Peaks of the heat map (3x3 local maxima above
`min_score`) are the numbers; overlapping boxes (IoU above 0.5), within a scale and
across scales, are pruned, the best kept.

Training (kerasvhn.locator_training): synthetic whole photos with their number boxes
(kerasvhn.data.photo_scenes); the loss is CenterNet's focal loss on the heat map
(Gaussian targets around each centre) plus an L1 loss on the boxes (centre offset and
log size) of the cells near each centre, computed in `compute_loss`.

>>> import numpy as np, kerasvhn
>>> locator = kerasvhn.NumberLocator("locator_small", input_size=128)
>>> boxes = locator.locate([np.zeros((90, 120, 3), np.uint8)], min_score=0.99)
>>> boxes
[[]]
"""

import math
import os
import warnings
from typing import NamedTuple

import keras
import numpy as np
from keras import ops
from PIL import Image

from kerasvhn.layers import ConvBNReLU, PerImageStandardization
from kerasvhn.locator_presets import (LOCATOR_PRESETS, PRETRAINED_LOCATORS, locator_preset_config,
                                      pretrained_locator_path)

#: The output grid's cell, in input pixels.
STRIDE = 8
#: A located number's least score (the heat map's probability at its centre) by default.
MIN_SCORE = 0.3
#: Boxes overlapping a better one by more than this IoU are dropped.
NMS_IOU = 0.5

_ARCHITECTURE_KEYS = ("input_size", "backbone", "neck", "head", "scales", "zoom", "second_look")


class Box(NamedTuple):
    """A located house number: its box in the photo's pixels and its score (the
    heat map's probability at its centre)."""

    left: float
    top: float
    width: float
    height: float
    score: float


@keras.saving.register_keras_serializable(package="kerasvhn")
class NumberLocator(keras.Model):
    """Finds house numbers in whole photos: a heat map of number centres and a box at
    each centre (see the module's docstring).

    Input: RGB images (B, H, W, 3), any float scale (standardised inside), H and W
    multiples of 32 (`locate` resizes and pads photos for you). Outputs (logits):
    `{"heat": (B, H/8, W/8, 1), "box": (B, H/8, W/8, 4)}`, "box" holding, in cells,
    the offset (dx, dy) of the number's centre from each cell's centre and the log
    of its width and height.

    Args:
        preset: an architecture of LOCATOR_PRESETS ("locator_small").
        input_size, backbone, neck, head, scales: override the preset's.
        zoom: override the preset's larger reading: [factor, max_width, min_score]
            (boxes narrower than max_width of the photo, scoring at least
            min_score, are kept from a reading at factor x input_size), or [] for
            none.
        second_look: override the preset's second look at each box: [factor,
            side] (a window factor x the box's longer side, read at side x side
            pixels; `kerasvhn.second_look`), or [] for none.
        min_score: the default least score of `locate`.
        fused: passed to every ConvBNReLU ("auto", True or False).
        training_streams: the synthetic photos the weights were trained on
            (`kerasvhn.data.synth.stream` records), saved with the model.

    Example:

    >>> import numpy as np, kerasvhn
    >>> locator = kerasvhn.NumberLocator("locator_tiny")
    >>> outputs = locator.predict_on_batch(np.zeros((1, 64, 96, 3), "float32"))
    >>> tuple(outputs["heat"].shape), tuple(outputs["box"].shape)
    ((1, 8, 12, 1), (1, 8, 12, 4))
    """

    def __init__(self, preset="locator_small", input_size=None, backbone=None, neck=None, head=None, scales=None,
                 zoom=None, second_look=None, min_score=MIN_SCORE, fused="auto", training_streams=None, **kwargs):
        config = locator_preset_config(preset)
        overrides = {"input_size": input_size, "backbone": backbone, "neck": neck, "head": head, "scales": scales,
                     "zoom": zoom, "second_look": second_look}
        config.update({k: v for k, v in overrides.items() if v is not None})
        config["backbone"] = [[int(f), int(s)] for f, s in config["backbone"]]
        config["scales"] = [float(v) for v in config.get("scales", [1.0])]
        if not config["scales"] or not all(0 < v <= 4 for v in config["scales"]):
            raise ValueError(f"scales must be a non-empty list of factors in (0, 4], got {config['scales']}")
        config["zoom"] = [float(v) for v in config.get("zoom") or []]
        if config["zoom"] and not (len(config["zoom"]) == 3 and 0 < config["zoom"][0] <= 4
                                   and 0 < config["zoom"][1] <= 1 and 0 <= config["zoom"][2] < 1):
            raise ValueError("zoom must be [] or [factor in (0, 4], max_width in (0, 1], min_score in [0, 1)], "
                             f"got {config['zoom']}")
        config["second_look"] = [float(v) for v in config.get("second_look") or []]
        if config["second_look"] and not (len(config["second_look"]) == 2 and 1 <= config["second_look"][0] <= 8
                                          and config["second_look"][1] >= 32 and config["second_look"][1] % 32 == 0):
            raise ValueError("second_look must be [] or [factor in [1, 8], side: a multiple of 32], "
                             f"got {config['second_look']}")
        config["second_look"] = ([config["second_look"][0], int(config["second_look"][1])]
                                 if config["second_look"] else [])
        if int(np.prod([s for _, s in config["backbone"]])) != 32:
            raise ValueError(f"the backbone's strides must multiply to 32, got {config['backbone']}")
        if config["input_size"] % 32 or config["input_size"] < 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {config['input_size']}")
        if not 0.0 < min_score < 1.0:
            raise ValueError(f"min_score must be between 0 and 1, got {min_score!r}")

        inputs = keras.Input(shape=(None, None, 3), name="image")
        x = PerImageStandardization(name="standardize")(inputs)
        taps, stride = {}, 1
        for index, (filters, strides) in enumerate(config["backbone"]):
            x = ConvBNReLU(filters, 3, strides=strides, fused=fused, name=f"conv{index + 1}")(x)
            stride *= strides
            taps[stride] = x
        neck = config["neck"]
        top = keras.layers.Conv2D(neck, 1, name="lateral32")(taps[32])
        top = keras.layers.UpSampling2D(2, name="up16")(top)
        top = keras.layers.Add(name="merge16")([top, keras.layers.Conv2D(neck, 1, name="lateral16")(taps[16])])
        top = ConvBNReLU(neck, 3, fused=fused, name="smooth16")(top)
        top = keras.layers.UpSampling2D(2, name="up8")(top)
        top = keras.layers.Add(name="merge8")([top, keras.layers.Conv2D(neck, 1, name="lateral8")(taps[8])])
        top = ConvBNReLU(config["head"], 3, fused=fused, name="head")(top)
        # A prior of 1% on every cell, as in RetinaNet/CenterNet: a stable start for the focal loss.
        heat = keras.layers.Conv2D(1, 1, dtype="float32", name="heat",
                                   bias_initializer=keras.initializers.Constant(-math.log(99.0)))(top)
        box = keras.layers.Conv2D(4, 1, dtype="float32", name="box")(top)
        super().__init__(inputs=inputs, outputs={"heat": heat, "box": box}, **kwargs)

        self.preset = preset
        self.architecture = config
        self.input_size = config["input_size"]
        self.scales = config["scales"]
        self.zoom = config["zoom"]
        self.second_look = config["second_look"]
        self.min_score = float(min_score)
        self.fused = fused
        self.training_streams = None if training_streams is None else [dict(s) for s in training_streams]

    @classmethod
    def from_preset(cls, name, **kwargs):
        """A locator from a preset: the shipped trained weights for a name of
        PRETRAINED_LOCATORS ("locator_synthetic"), fresh weights for an architecture of
        LOCATOR_PRESETS ("locator_small", "locator_tiny")."""
        if name in PRETRAINED_LOCATORS:
            entry = PRETRAINED_LOCATORS[name]
            path = pretrained_locator_path(name)
            model = cls(entry["preset"], training_streams=entry["training_streams"],
                        **{"min_score": entry.get("min_score", MIN_SCORE), **kwargs})
            model.load_weights(path)
            return model
        if name in LOCATOR_PRESETS:
            return cls(name, **kwargs)
        raise ValueError(f"unknown locator {name!r}; choose one of "
                         f"{sorted(PRETRAINED_LOCATORS) + sorted(LOCATOR_PRESETS)}")

    def get_config(self):
        config = {key: self.architecture[key] for key in _ARCHITECTURE_KEYS}
        config.update({"preset": self.preset, "min_score": self.min_score, "fused": self.fused,
                       "training_streams": self.training_streams, "name": self.name, "trainable": self.trainable})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def compile(self, optimizer="adam", iou_weight=0.0, **kwargs):
        """Configures training with the locator's own loss (`locator_loss`);
        iou_weight: the weight of its GIoU term on the boxes (0: L1 alone)."""
        if not iou_weight >= 0:
            raise ValueError(f"iou_weight must be at least 0, got {iou_weight!r}")
        self.iou_weight = float(iou_weight)
        super().compile(optimizer=optimizer, loss=None, **kwargs)

    def get_compile_config(self):
        """Nothing: a loaded locator is ready to locate; `train_locator` compiles it anew."""
        return {}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = locator_loss(y, y_pred, iou_weight=getattr(self, "iou_weight", 0.0))
        for extra in self.losses:
            loss = loss + ops.sum(ops.cast(extra, loss.dtype))
        return loss

    def locate(self, images, min_score=None, max_boxes=10, batch_size=8, second_look=None):
        """The house numbers in each photo, best first.

        Args:
            images: RGB PIL images, or uint8 arrays (H, W, 3); or one of them.
            min_score: the least score of a box (default: the locator's min_score).
            max_boxes: at most this many boxes per photo.
            batch_size: photos per forward pass.
            second_look: look at each box again in a window around it
                (`kerasvhn.second_look`); None: when the locator's config has one.

        Returns a list (one per photo) of lists of `Box` in the photo's pixels.
        """
        from kerasvhn.predict import load_image

        if isinstance(images, (Image.Image, np.ndarray)) and not (isinstance(images, np.ndarray) and images.ndim == 4):
            images = [images]
        images = [load_image(image) for image in images]
        min_score = self.min_score if min_score is None else float(min_score)
        found = [[] for _ in images]
        # (side, least score, widest box kept as a share of the photo's width or None)
        readings = [(size, min_score, None) for size in self.input_sizes()]
        if self.zoom:
            _, max_width, zoom_score = self.zoom
            readings.append((self.reading_sides()[-1], max(min_score, zoom_score), max_width))
        for size, least, max_width in readings:
            for begin in range(0, len(images), batch_size):
                chunk = images[begin : begin + batch_size]
                fitted = [fit_photo(image, size) for image in chunk]
                outputs = self.predict_on_batch(np.stack([pixels for pixels, _ in fitted]))
                heat = keras.ops.convert_to_numpy(outputs["heat"])
                box = keras.ops.convert_to_numpy(outputs["box"])
                for k, (_, scale) in enumerate(fitted):
                    width, height = chunk[k].size
                    valid = (round(width * scale[0]), round(height * scale[1]))
                    boxes = decode_boxes(heat[k], box[k], least, max_boxes, valid=valid)
                    found[begin + k] += [b for b in boxes_in_photo(boxes, scale, chunk[k].size)
                                         if max_width is None or b.width < max_width * width]
        found = [_best(boxes, max_boxes) for boxes in found]
        if self.second_look and second_look is not False:
            from kerasvhn.second_look import look_again

            factor, side = self.second_look
            found = [_best(look_again(self, image, boxes, factor, side, batch_size), max_boxes)
                     for image, boxes in zip(images, found)]
        return found

    def input_sizes(self):
        """The sides photos are read at: input_size times each of the scales, in
        multiples of 32 (the zoom's reading not included)."""
        return [_side(self.input_size * scale) for scale in self.scales]

    def reading_sides(self):
        """Every side a photo is read at: input_sizes(), then the zoom's (if any)."""
        return self.input_sizes() + ([_side(self.input_size * self.zoom[0])] if self.zoom else [])


def _side(size):
    """A reading's side: size rounded to a multiple of 32, at least 32."""
    return max(32, int(round(size / 32)) * 32)


def _best(boxes, max_boxes):
    """The boxes found at every scale, best first, without those overlapping a better one."""
    kept = []
    for box in sorted(boxes, key=lambda b: -b.score):
        corners = (box.left, box.top, box.left + box.width, box.top + box.height)
        if all(iou(corners, (k.left, k.top, k.left + k.width, k.top + k.height)) <= NMS_IOU for k in kept):
            kept.append(box)
            if len(kept) == max_boxes:
                break
    return kept


# ----------------------------------------------------------------------------- photos in, boxes out


def fit_photo(image, size):
    """A photo (RGB PIL image) as the locator reads it: resized so that its long side is
    `size` (aspect ratio kept), padded right and bottom to size x size with its edge
    pixels. Returns (float32 (size, size, 3) in [0, 1], (sx, sy)): the resize's exact
    factors, resized width / width and resized height / height.

    >>> from PIL import Image
    >>> pixels, scale = fit_photo(Image.new("RGB", (1000, 750)), 512)
    >>> pixels.shape, scale
    ((512, 512, 3), (0.512, 0.512))
    """
    width, height = image.size
    long = max(width, height)
    new_w, new_h = max(1, int(round(width * size / long))), max(1, int(round(height * size / long)))
    resized = np.asarray(image.resize((new_w, new_h), Image.BILINEAR), np.float32) / np.float32(255)
    pixels = np.pad(resized, ((0, size - new_h), (0, size - new_w), (0, 0)), mode="edge")
    return pixels, (new_w / width, new_h / height)


def decode_boxes(heat_logits, box_outputs, min_score=MIN_SCORE, max_boxes=10, stride=STRIDE, valid=None):
    """Boxes (x0, y0, x1, y1, score) in input pixels from one image's outputs: the
    3x3 local maxima of the heat map at or above min_score, best first, at most
    max_boxes, without boxes overlapping a better one by more than NMS_IOU.
    valid: (width, height) of the photo in the input (the rest is padding, where no
    centre is looked for), or None.

    >>> heat = np.full((4, 4, 1), -9.0); heat[1, 2, 0] = 3.0
    >>> box = np.zeros((4, 4, 4)); box[1, 2] = (0.25, 0.0, np.log(2.0), np.log(1.0))
    >>> [round(v, 2) for v in decode_boxes(heat, box, 0.5)[0]]
    [14.0, 8.0, 30.0, 16.0, 0.95]
    """
    heat = 1.0 / (1.0 + np.exp(-np.asarray(heat_logits, np.float64)[..., 0]))
    if valid is not None:
        heat = heat.copy()
        heat[int(math.ceil(valid[1] / stride)) :] = 0.0
        heat[:, int(math.ceil(valid[0] / stride)) :] = 0.0
    padded = np.pad(heat, 1, mode="constant", constant_values=-1.0)
    rows, cols = heat.shape
    local = np.max([padded[dy : dy + rows, dx : dx + cols] for dy in range(3) for dx in range(3)], axis=0)
    ys, xs = np.nonzero((heat >= local) & (heat >= min_score))
    order = np.argsort(-heat[ys, xs], kind="stable")
    box = np.asarray(box_outputs, np.float64)
    kept = []
    for index in order:
        y, x = ys[index], xs[index]
        dx, dy, log_w, log_h = box[y, x]
        cx, cy = (x + 0.5 + dx) * stride, (y + 0.5 + dy) * stride
        half_w, half_h = (float(v) for v in np.exp(np.clip([log_w, log_h], -6.0, 8.0)) * stride / 2)
        cx, cy = float(cx), float(cy)
        candidate = (cx - half_w, cy - half_h, cx + half_w, cy + half_h, float(heat[y, x]))
        if all(iou(candidate, other) <= NMS_IOU for other in kept):
            kept.append(candidate)
            if len(kept) == max_boxes:
                break
    return kept


def boxes_in_photo(boxes, scale, size):
    """Boxes (x0, y0, x1, y1, score) in the resized photo's pixels as `Box`es in the
    photo's own pixels (clipped to its width x height `size`); empty ones dropped."""
    sx, sy = scale
    width, height = size
    found = []
    for x0, y0, x1, y1, score in boxes:
        x0, x1 = min(max(x0 / sx, 0.0), width), min(max(x1 / sx, 0.0), width)
        y0, y1 = min(max(y0 / sy, 0.0), height), min(max(y1 / sy, 0.0), height)
        if x1 - x0 >= 1 and y1 - y0 >= 1:
            found.append(Box(x0, y0, x1 - x0, y1 - y0, score))
    return found


def iou(a, b):
    """The intersection over union of two boxes (x0, y0, x1, y1, ...).

    >>> iou((0, 0, 2, 2), (1, 0, 3, 2))
    0.3333333333333333
    """
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ----------------------------------------------------------------------------- the loss


def locator_loss(y_true, y_pred, focal_alpha=2.0, focal_beta=4.0, iou_weight=0.0):
    """CenterNet's focal loss on the heat map plus an L1 loss on the boxes.

    y_true: {"heat": (B, h, w, 1) targets in [0, 1] (1 at each centre's cell, a
    Gaussian around it, -1 where a cell is ignored), "box": (B, h, w, 5): the true
    box as the model predicts it (centre offset dx, dy from the cell's centre, and
    the width and height, in cells; not their logs) and the cell's weight in the box
    loss (0 far from any centre)}. y_pred: the model's outputs. The focal term is
    normalised by the number of centres; the box term, the absolute errors of the
    offset and of the log width and height, by the total weight. iou_weight > 0 adds
    that weight times 1 - GIoU (Rezatofighi et al. 2019) of each cell's box against
    the true one, normalised the same way: a term on the overlap itself, which is
    what a box is judged by.
    """
    target = ops.cast(y_true["heat"], "float32")
    logits = ops.cast(y_pred["heat"], "float32")
    log_p = ops.log_sigmoid(logits)
    log_not_p = ops.log_sigmoid(-logits)
    p = ops.exp(log_p)
    positive = ops.cast(target >= 0.999, "float32")
    negative = ops.cast(target >= 0.0, "float32") * (1.0 - positive)
    pos_loss = -ops.power(1.0 - p, focal_alpha) * log_p * positive
    neg_loss = -ops.power(ops.maximum(1.0 - target, 0.0), focal_beta) * ops.power(p, focal_alpha) * log_not_p * negative
    focal = (ops.sum(pos_loss) + ops.sum(neg_loss)) / ops.maximum(ops.sum(positive), 1.0)

    truth = ops.cast(y_true["box"], "float32")
    weight = truth[..., 4]
    raw = ops.cast(y_pred["box"], "float32")
    # L1 on the centre's offset and on the log of the size: bounded gradients, the same
    # relative error for small and large numbers.
    true_log_size = ops.log(ops.maximum(truth[..., 2:4], 1e-6))
    error = ops.sum(ops.abs(raw[..., 0:2] - truth[..., 0:2]), axis=-1) + ops.sum(
        ops.abs(raw[..., 2:4] - true_log_size), axis=-1)
    if iou_weight:
        error = error + iou_weight * (1.0 - giou(raw, truth))
    box = ops.sum(error * weight) / ops.maximum(ops.sum(weight), 1e-6)
    return focal + box


def giou(raw, truth):
    """The generalised IoU of predicted boxes (dx, dy, log w, log h) and true ones
    (dx, dy, w, h), both in cells from the same cell's centre (tensors or arrays
    (..., 4+))."""
    raw, truth = ops.convert_to_tensor(raw, "float32"), ops.convert_to_tensor(truth, "float32")
    size = ops.exp(ops.clip(raw[..., 2:4], -6.0, 8.0))
    true_size = ops.maximum(truth[..., 2:4], 1e-6)
    low, high = raw[..., 0:2] - size / 2, raw[..., 0:2] + size / 2
    true_low, true_high = truth[..., 0:2] - true_size / 2, truth[..., 0:2] + true_size / 2
    overlap = ops.maximum(ops.minimum(high, true_high) - ops.maximum(low, true_low), 0.0)
    inter = overlap[..., 0] * overlap[..., 1]
    union = size[..., 0] * size[..., 1] + true_size[..., 0] * true_size[..., 1] - inter
    hull = ops.maximum(high, true_high) - ops.minimum(low, true_low)
    enclosing = hull[..., 0] * hull[..., 1]
    return inter / ops.maximum(union, 1e-9) - (enclosing - union) / ops.maximum(enclosing, 1e-9)


# ----------------------------------------------------------------------------- files


def load_locator(locator=None):
    """A NumberLocator from a locator (returned as it is), a `.keras` or `.weights.h5`
    path (with its `.config.json` beside it, as `kerasvhn.saving.save_model` writes
    them), or a preset name (None: the shipped "locator_synthetic")."""
    if locator is None:
        return NumberLocator.from_preset("locator_synthetic")
    if isinstance(locator, NumberLocator):
        return locator
    if not isinstance(locator, (str, os.PathLike)):
        return locator  # anything with locate(): a stand-in
    name = os.fspath(locator)
    if name in PRETRAINED_LOCATORS or name in LOCATOR_PRESETS:
        return NumberLocator.from_preset(name)
    if not os.path.isfile(name):
        raise FileNotFoundError(f"{name}: no such locator file")
    if name.endswith(".keras"):
        return keras.saving.load_model(name, compile=False)
    from kerasvhn.saving import WEIGHTS_SUFFIX, sidecar_path

    if not name.endswith(WEIGHTS_SUFFIX):
        raise ValueError(f"{name}: a locator file must end in .keras or {WEIGHTS_SUFFIX}")
    config = sidecar_path(name)
    if not os.path.isfile(config):
        raise ValueError(f"{name} has no config beside it ({os.path.basename(config)})")
    with open(config) as sidecar:
        model = keras.models.model_from_json(sidecar.read())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.load_weights(name)
    return model
