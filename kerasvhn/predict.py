"""Reading numbers off photos: `kerasvhn.read_numbers` and `kerasvhn predict`.

An image of any size and aspect ratio is framed the way the model was trained: by
default the whole image is the frame; given its digit boxes (SVHN format 1), the
boxes' union expanded by 30% is, exactly as `kerasvhn prepare` crops. The frame is
resized to 64x64 (aspect ratio not kept) and its centred 54x54 window is read.

Confidence: for a number, the model's probability of that whole reading (the
paper's decoding rule); for "" (no number), the probability that the image shows
any number, so a blank wall answers "" with a low confidence. A reading less
probable than `min_confidence` is answered "" too.
"""

import os
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from kerasvhn.data.prepare import SIZE, crop_box
from kerasvhn.sequence import best_readings

CROP = 54
#: Readings less probable than this are answered "" (no number).
MIN_CONFIDENCE = 0.3


class Reading(NamedTuple):
    """One image's answer: the number ("" for none) and a confidence in [0, 1]."""

    number: str
    confidence: float


class ImageError(ValueError):
    """An image that cannot be read (the message names it)."""


def load_image(source):
    """An RGB PIL image from a path, a PIL image or an (H, W[, C]) uint8 array."""
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    if isinstance(source, np.ndarray):
        array = source
        if array.dtype != np.uint8:
            if array.size and (array.min() < 0 or array.max() > 1):
                raise ImageError(f"float images must hold values in [0, 1], got [{array.min()}, {array.max()}]")
            array = (array * 255 + 0.5).astype(np.uint8)
        if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4)):
            return Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array).convert("RGB")
        raise ImageError(f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}")
    path = os.fspath(source)
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageError(f"{path}: not a readable image ({error})") from None


def frame(image, record=None):
    """The model's view of one RGB PIL image: float32 (54, 54, 3) in [0, 1].

    record: its digitStruct entry ({"left", "top", "width", "height"} lists) to crop
    by, or None for the whole image.
    """
    if record is not None:
        box = crop_box(record, *image.size)
        if box is None:
            raise ImageError(f"its digit boxes lie outside the {image.size[0]}x{image.size[1]} image")
        image = image.crop(box)
    array = np.asarray(image.resize((SIZE, SIZE), Image.BILINEAR), np.float32) / np.float32(255)
    top = (SIZE - CROP) // 2
    return array[top : top + CROP, top : top + CROP]


def load_model(model=None):
    """A MultiDigitNet from a model, a .keras/.weights.h5 path or a preset name
    (None: the shipped \"small_synthetic\")."""
    if model is None or isinstance(model, str) and not os.path.exists(model):
        from kerasvhn.model import MultiDigitNet

        return MultiDigitNet.from_preset(model or "small_synthetic")
    if isinstance(model, (str, os.PathLike)):
        import keras

        import kerasvhn  # noqa: F401  (registers the classes a saved model names)

        path = os.fspath(model)
        if path.endswith(".weights.h5"):
            from kerasvhn.model import MultiDigitNet

            loaded = MultiDigitNet("small")
            loaded.load_weights(path)
            return loaded
        return keras.saving.load_model(path, compile=False)
    return model


def read_frames(model, frames, batch_size=256, min_confidence=MIN_CONFIDENCE):
    """Readings of framed float images (N, 54, 54, 3) in [0, 1]."""
    import keras

    if len(frames) == 0:
        return []
    frames = np.asarray(frames, np.float32)
    # predict_on_batch per chunk: model.predict's per-call set-up costs more than
    # reading a handful of images.
    chunks = [model.predict_on_batch(frames[i : i + batch_size]) for i in range(0, len(frames), batch_size)]
    outputs = {
        key: np.concatenate([keras.ops.convert_to_numpy(chunk[key]) for chunk in chunks]) for key in chunks[0]
    }
    length, digits, log_probability = best_readings(outputs["length"], outputs["digits"])
    length = keras.ops.convert_to_numpy(length)
    digits = keras.ops.convert_to_numpy(digits)
    probability = np.exp(keras.ops.convert_to_numpy(log_probability))
    length_logits = np.asarray(keras.ops.convert_to_numpy(outputs["length"]), np.float64)
    length_p = np.exp(length_logits - length_logits.max(axis=1, keepdims=True))
    p_none = length_p[:, 0] / length_p.sum(axis=1)
    max_digits = digits.shape[1]
    readings = []
    for n, row, p, none in zip(length, digits, probability, p_none):
        count = min(int(n), max_digits)  # the "more" class reads its first max_digits digits
        number = "".join(str(int(d)) for d in row[:count])
        if count == 0 or p < min_confidence:
            readings.append(Reading("", float(1.0 - none) if count == 0 else float(p)))
        else:
            readings.append(Reading(number, float(p)))
    return readings


def read_numbers(images, model=None, records=None, batch_size=256, min_confidence=MIN_CONFIDENCE):
    """Reads the house number in each image.

    Args:
        images: paths, PIL images or uint8 arrays (H, W, 3), of any size; or one of them.
        model: a MultiDigitNet, the path of a saved `.keras` model, or a preset
            name; None: the shipped "small_synthetic" model.
        records: optional digitStruct entries, one per image (None for the whole
            image): each image is then cropped by its boxes as `prepare` does.
        batch_size: images per forward pass.
        min_confidence: readings less probable than this are answered "".

    Returns:
        [Reading(number, confidence)], number a string of digits, "" for none.

    >>> import numpy as np, kerasvhn
    >>> blank = np.full((80, 120, 3), 200, np.uint8)
    >>> [(number, confidence < 0.5) for number, confidence in kerasvhn.read_numbers([blank])]
    [('', True)]
    """
    # One image: a path, a PIL image or a 2-D/3-D array; a 4-D array is a batch.
    single = isinstance(images, (str, os.PathLike, Image.Image)) or (
        isinstance(images, np.ndarray) and images.ndim in (2, 3)
    )
    if single:
        images = [images]
    images = list(images)
    if records is not None and len(records) != len(images):
        raise ValueError(f"{len(records)} records for {len(images)} images")
    frames = np.stack([
        frame(load_image(image), None if records is None else records[i]) for i, image in enumerate(images)
    ]) if images else np.zeros((0, CROP, CROP, 3), np.float32)
    return read_frames(load_model(model), frames, batch_size, min_confidence)
