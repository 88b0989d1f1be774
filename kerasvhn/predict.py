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

Whole photos (a door, a facade) are read in two stages when a number locator is at
hand (`locate`; kerasvhn.locator): the locator finds the numbers' boxes, each of the
best MAX_BOXES is cropped with the paper's 30% margin (`framing.crop_box`) and read,
and the number read in a box with the highest confidence times the box's score is the
answer, with its `box` (left, top, width, height in the photo's pixels, upright). The
whole frame is read first: a number read there with confidence WHOLE_FRAME_CONFIDENCE
or more is the answer (a photo framed around its number, what the one-stage reader
was trained on; such photos are not located unless every number is asked for), and so
is its reading when no box holds a number (or the locator finds none).

Tall frames (a whole photo or a box at least 1.5 times as high as wide) are also read
as vertical numbers, digits stacked top to bottom (`kerasvhn.vertical`), unless
`unstack=False`. The union of two neighbouring boxes is read too (a number located in
pieces, `kerasvhn.joining`), unless `join=False`. A box whose reading is a rejected
guess (a box a little off its number) is read again in frames around it
(`kerasvhn.reframing`), unless `reframe=False`.
"""

import os
import warnings
from typing import NamedTuple, Optional

import numpy as np
from PIL import Image, ImageOps

from kerasvhn.framing import CROP, centre_crops, crop_box, frame, frame_pixels
from kerasvhn.joining import with_unions
from kerasvhn.reframing import prefer_reframed
from kerasvhn.sequence import decode
from kerasvhn.vertical import prefer_unstacked

#: Readings less probable than this are answered "" (no number).
MIN_CONFIDENCE = 0.3
#: The located boxes read in a photo, best first.
MAX_BOXES = 5
#: A number read in the whole frame at least this probable is a two-stage reading's
#: answer, before any box's (chosen on synthetic validation data: numbers framed around
#: themselves and whole photos, `reports/` only; never on real photos; 0.5 until
#: 2026-12-05, when the reader of stage 10 read more photos at 0.7 and as many tight
#: numbers).
WHOLE_FRAME_CONFIDENCE = 0.7


class Reading(NamedTuple):
    """One image's answer.

    number: the digits read, "" for none ("12345+" for more than five digits).
    confidence: the model's probability that `number` is right (for "", that
        the image shows no number).
    rejected: a number read below `min_confidence` and answered "" instead,
        else None; rejected_confidence: its probability.
    box: where the number was read, (left, top, width, height) in the photo's
        pixels (upright, as `load_image` returns it): the locator's box, before
        the 30% margin; None when the whole frame (or the digit boxes given) was
        read. box_score: the locator's score of that box.
    """

    number: str
    confidence: float
    rejected: Optional[str] = None
    rejected_confidence: Optional[float] = None
    box: Optional[tuple] = None
    box_score: Optional[float] = None


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


def read_numbers(images, model=None, records=None, batch_size=256, min_confidence=MIN_CONFIDENCE, *, locate=None,
                 locator=None, min_score=None, every=False, unstack=True, join=True, reframe=True):
    """Reads the house number in each image.

    Args:
        images: paths, PIL images or uint8 arrays (H, W, 3), of any size; or one of them.
        model: a MultiDigitNet, the path of a saved `.keras` or `.weights.h5`
            model, or a preset name; None: the shipped "small_synthetic" model.
        records: optional digitStruct entries, one per image (None for the whole
            image): each image is then cropped by its boxes as `prepare` does.
        batch_size: images per forward pass.
        min_confidence: readings less probable than this are answered "".
        locate: True: read in two stages (find the numbers, read each box);
            False: read the whole image as one frame; None (default): two stages
            when a locator is given or the shipped one is installed (and no
            records are given), else one.
        locator: a NumberLocator, a saved one's path, or a preset name; None: the
            shipped "locator_synthetic".
        min_score: the least score of a located box (default: the locator's).
        every: return every number found in each image instead of the best.
        unstack: also read tall frames as vertical numbers (kerasvhn.vertical;
            not with records).
        join: in two stages, also read the union of every two neighbouring
            boxes (a number located in pieces; kerasvhn.joining).
        reframe: in two stages, read a box whose reading is a rejected guess
            again in frames around it (kerasvhn.reframing).

    Returns:
        [Reading(number, confidence, rejected, rejected_confidence, box,
        box_score)]: number a string of digits, "" for none; confidence the
        probability that it is right; box where it was read (None: the whole
        image). With every=True, a list of such lists, one per image (a number
        found in several boxes is listed for each; an image without one holds
        its whole-frame reading).

    >>> import numpy as np, kerasvhn
    >>> blank = np.full((80, 120, 3), 200, np.uint8)
    >>> [(r.number, r.confidence > 0.5, r.box) for r in kerasvhn.read_numbers([blank], locate=False)]
    [('', True, None)]
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
    if records is not None and locate:
        raise ValueError("records give the numbers' boxes: locate=True cannot be used with them")
    from kerasvhn.saving import load_model

    model = load_model(model)
    pictures = [load_image(image) for image in images]
    if records is None and wants_locator(locate, locator):
        from kerasvhn.locator import load_locator

        readings = read_photos_located(model, load_locator(locator), pictures, batch_size, min_confidence,
                                       min_score, every=every, unstack=unstack, join=join,
                                       reframe=reframe)
        return readings if every else [found[0] for found in readings]
    frames = np.zeros((0, CROP, CROP, 3), np.float32)
    if pictures:
        frames = np.stack([frame(picture, None if records is None else records[i])
                           for i, picture in enumerate(pictures)])
    readings = read_frames(model, frames, batch_size, min_confidence)
    if unstack and records is None:
        readings = prefer_unstacked(model, pictures, [None] * len(pictures), readings, batch_size, min_confidence)
    return [[reading] for reading in readings] if every else readings


def wants_locator(locate, locator):
    """Whether to read in two stages: locate True or False as asked; None (the
    default): when a locator is given or the shipped one is installed. Photos whose
    whole frame reads surely are answered by it, so tightly framed numbers keep the
    one-stage reading; without a locator, one stage."""
    if locate is not None:
        return bool(locate)
    if locator is not None:
        return True
    from kerasvhn.locator_presets import shipped_locator_available

    return shipped_locator_available()


def box_frame(image, box):
    """The reader's frame of a located box (left, top, width, height): the box with the
    paper's 30% margin, clipped to the photo, resized to 64x64, its centred 54x54."""
    left, top, width, height = box[:4]
    crop = crop_box({"left": [left], "top": [top], "width": [width], "height": [height]}, *image.size)
    if crop is None:
        return frame(image)
    return centre_crops(frame_pixels(image, crop)[None])[0]


def read_photos_located(model, locator, images, batch_size=256, min_confidence=MIN_CONFIDENCE, min_score=None,
                        max_boxes=MAX_BOXES, every=True, unstack=True, join=True, reframe=True):
    """Two-stage readings of RGB PIL images: for each, every number found, the
    likeliest first (see the module's docstring), as a list of Readings; a photo
    where no box holds a number gets its whole-frame reading alone (box None).

    The whole frame is read first: a number read there at WHOLE_FRAME_CONFIDENCE or
    more is the answer (the photo is framed around its number, as the reader was
    trained on), and with every=False such photos are not located at all.

    locator: anything with `locate(images, min_score=, max_boxes=)` returning, per
    image, boxes with left, top, width, height and score (a NumberLocator).
    unstack: tall frames (the whole photo or a box) are also read as vertical
    numbers (`kerasvhn.vertical.prefer_unstacked`).
    join: the union of every two neighbouring boxes is read as well (a number
    located in pieces, `kerasvhn.joining`).
    reframe: a box whose reading is a rejected guess is read again in frames
    around it (`kerasvhn.reframing`).
    """
    if not images:
        return []
    whole = read_frames(model, np.stack([frame(image) for image in images]), batch_size, min_confidence)
    if unstack:
        whole = prefer_unstacked(model, images, [None] * len(images), whole, batch_size, min_confidence)
    sure = [bool(reading.number) and reading.confidence >= WHOLE_FRAME_CONFIDENCE for reading in whole]
    wanted = [index for index in range(len(images)) if every or not sure[index]]
    located = dict(zip(wanted, locator.locate([images[index] for index in wanted], min_score=min_score,
                                              max_boxes=max_boxes) if wanted else []))
    frames, owners = [], []
    for index, boxes in located.items():
        for box in (with_unions(boxes) if join else boxes):
            frames.append(box_frame(images[index], box))
            owners.append((index, box))
    boxed = [[] for _ in images]
    readings = read_frames(model, np.stack(frames), batch_size, min_confidence) if frames else []
    box_images = [images[index] for index, _ in owners]
    box_rects = [(box.left, box.top, box.width, box.height) for _, box in owners]
    if unstack and readings:
        readings = prefer_unstacked(model, box_images, box_rects, readings, batch_size, min_confidence)
    if reframe and readings:
        readings = prefer_reframed(model, box_images, box_rects, readings, batch_size=batch_size)
    for (index, box), reading in zip(owners, readings):
        where = tuple(float(v) for v in (box.left, box.top, box.width, box.height))
        boxed[index].append(reading._replace(box=where, box_score=float(box.score)))
    answers = []
    for full, confident, candidates in zip(whole, sure, boxed):
        numbers = sorted((r for r in candidates if r.number), key=lambda r: -r.confidence * r.box_score)
        if confident:
            numbers = [full, *numbers]
        if numbers:
            answers.append(numbers)
            continue
        rejected = [r for r in [full, *candidates] if r.rejected is not None]
        if not full.number and rejected:  # "" with the most probable guess kept, no box
            guess = max(rejected, key=lambda r: r.rejected_confidence)
            full = full._replace(rejected=guess.rejected, rejected_confidence=guess.rejected_confidence)
        answers.append([full])
    return answers
