"""Reading numbers off photos: `kerasvhn.read_numbers` and `kerasvhn predict`.

An image of any size and aspect ratio is framed the way the model was trained: by
default the whole image is the frame; given its digit boxes (SVHN format 1), the
boxes' union expanded by 30% is, exactly as `kerasvhn prepare` crops. The frame is
resized to 64x64 (aspect ratio not kept) and its centred 54x54 window is read.
Photos are read upright (their EXIF orientation applied), 16-bit images scaled to
8 bits, transparent ones laid on white.

The reading is `kerasvhn.decode`'s (the paper's rule; "12345+" for more than five
digits), and `confidence` is the model's probability that the answer given is
right: for a number, the probability of that whole reading; for "" (no number),
the probability that the image shows no number. A number less probable than
`min_confidence` is answered "" (with the probability of no number as its
confidence) and kept as `rejected`, with its own probability.
"""

import os
import warnings
from typing import NamedTuple, Optional

import numpy as np
from PIL import Image, ImageOps

from kerasvhn.framing import CROP, frame
from kerasvhn.sequence import decode

#: Readings less probable than this are answered "" (no number).
MIN_CONFIDENCE = 0.3


class Reading(NamedTuple):
    """One image's answer.

    number: the digits read, "" for none ("12345+" for more than five digits).
    confidence: the model's probability that `number` is right (for "", that
        the image shows no number).
    rejected: a number read below `min_confidence` and answered "" instead,
        else None; rejected_confidence: its probability.
    """

    number: str
    confidence: float
    rejected: Optional[str] = None
    rejected_confidence: Optional[float] = None


class ImageError(ValueError):
    """An image that cannot be read (the message names it)."""


def load_image(source):
    """An RGB PIL image from a path, a PIL image or an (H, W[, C]) uint8 array.

    Files are turned upright by their EXIF orientation; 16-bit and float images
    are scaled to 8 bits; transparent pixels are laid on white. Anything that
    cannot be read, a decompression bomb included, raises ImageError naming it.
    """
    if isinstance(source, Image.Image):
        return _to_rgb(source)
    if isinstance(source, np.ndarray):
        return _array_image(source)
    path = os.fspath(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _to_rgb(ImageOps.exif_transpose(image))
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{path}: too large to read safely, a possible decompression bomb ({error})") from None
    except Exception as error:  # noqa: BLE001 (any decoder failure is this file's problem)
        raise ImageError(f"{path}: not a readable image ({type(error).__name__}: {error})") from None


def _array_image(array):
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 1):
            raise ImageError(f"float images must hold values in [0, 1], got [{array.min()}, {array.max()}]")
        array = (array * 255 + 0.5).astype(np.uint8)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4)):
        return _to_rgb(Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array))
    raise ImageError(f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {array.shape}")


def _to_rgb(image):
    """RGB, 8 bits per channel, whatever the mode; alpha laid on white."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image, np.float64)
        # 16-bit PNGs (and 32-bit integer images) span 0..65535; float images 0..1.
        top = 1.0 if image.mode == "F" and values.max(initial=0) <= 1 else 65535.0
        image = Image.fromarray(np.clip(values / top * 255 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def model_outputs(model, frames, batch_size=256):
    """The model's logits on framed float images (N, 54, 54, 3), as NumPy arrays."""
    import keras

    # predict_on_batch per chunk: model.predict's per-call set-up costs more than
    # reading a handful of images.
    chunks = [model.predict_on_batch(frames[i : i + batch_size]) for i in range(0, len(frames), batch_size)]
    return {key: np.concatenate([keras.ops.convert_to_numpy(chunk[key]) for chunk in chunks]) for key in chunks[0]}


def readings_of(outputs, min_confidence=MIN_CONFIDENCE):
    """Readings from the model's outputs: `decode`'s, with the rejection rule."""
    numbers, confidences = decode(outputs)
    length_logits = np.asarray(outputs["length"], np.float64)
    length_p = np.exp(length_logits - length_logits.max(axis=1, keepdims=True))
    p_none = length_p[:, 0] / length_p.sum(axis=1)
    readings = []
    for number, confidence, none in zip(numbers, confidences, p_none):
        if number and confidence < min_confidence:
            readings.append(Reading("", float(none), number, float(confidence)))
        else:
            readings.append(Reading(number, float(confidence)))
    return readings


def read_frames(model, frames, batch_size=256, min_confidence=MIN_CONFIDENCE):
    """Readings of framed float images (N, 54, 54, 3) in [0, 1]."""
    if len(frames) == 0:
        return []
    outputs = model_outputs(model, np.asarray(frames, np.float32), batch_size)
    return readings_of(outputs, min_confidence)


def read_numbers(images, model=None, records=None, batch_size=256, min_confidence=MIN_CONFIDENCE):
    """Reads the house number in each image.

    Args:
        images: paths, PIL images or uint8 arrays (H, W, 3), of any size; or one of them.
        model: a MultiDigitNet, the path of a saved `.keras` or `.weights.h5`
            model, or a preset name; None: the shipped "small_synthetic" model.
        records: optional digitStruct entries, one per image (None for the whole
            image): each image is then cropped by its boxes as `prepare` does.
        batch_size: images per forward pass.
        min_confidence: readings less probable than this are answered "".

    Returns:
        [Reading(number, confidence, rejected, rejected_confidence)]: number a
        string of digits, "" for none; confidence the probability that it is right.

    >>> import numpy as np, kerasvhn
    >>> blank = np.full((80, 120, 3), 200, np.uint8)
    >>> [(r.number, r.confidence > 0.5) for r in kerasvhn.read_numbers([blank])]
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
    frames = np.zeros((0, CROP, CROP, 3), np.float32)
    if images:
        frames = np.stack([frame(load_image(image), None if records is None else records[i]) for i, image in enumerate(images)])
    from kerasvhn.saving import load_model

    return read_frames(load_model(model), frames, batch_size, min_confidence)
