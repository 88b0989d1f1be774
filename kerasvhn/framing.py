"""How a photo becomes what the model reads (Goodfellow et al. 2013), in one place.

The frame around a number is the union of its digit boxes expanded by 30% in x and
in y (15% on each side), clipped to the photo (`crop_box`); the frame, or the whole
photo when the boxes are unknown, is resized to 64x64 without keeping the aspect
ratio (`frame_pixels`: what `prepare` caches); the model reads a 54x54 window of it,
random while training and centred otherwise (`centre_crops`). NumPy and Pillow only.

>>> import numpy as np
>>> from PIL import Image
>>> photo = Image.new("RGB", (120, 80), (200, 180, 160))
>>> frame(photo).shape
(54, 54, 3)
"""

import numpy as np
from PIL import Image

#: The paper's expansion of the digits' box, in x and in y.
EXPAND = 0.30
#: The side of a framed image (prepared splits hold these).
SIZE = 64
#: The side of the window the model reads.
CROP = 54


def crop_box(record, width, height):
    """The paper's crop of one image: (left, top, right, bottom) in pixels, or None
    when its boxes lie outside the width x height image.

    record: a digitStruct entry ({"left", "top", "width", "height"} lists).

    >>> crop_box({"left": [10], "top": [10], "width": [20], "height": [40]}, 100, 100)
    (7, 4, 33, 56)
    """
    left = np.asarray(record["left"], np.float64)
    top = np.asarray(record["top"], np.float64)
    right = left + np.asarray(record["width"], np.float64)
    bottom = top + np.asarray(record["height"], np.float64)
    x0, y0, x1, y1 = left.min(), top.min(), right.max(), bottom.max()
    dx, dy = (x1 - x0) * EXPAND / 2, (y1 - y0) * EXPAND / 2
    x0, y0 = max(0.0, x0 - dx), max(0.0, y0 - dy)
    x1, y1 = min(float(width), x1 + dx), min(float(height), y1 + dy)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))


def frame_pixels(image, box=None, size=SIZE):
    """An RGB PIL image cropped to `box` (or whole) and resized to size x size:
    uint8 (size, size, 3)."""
    if box is not None:
        image = image.crop(box)
    return np.asarray(image.resize((size, size), Image.BILINEAR), np.uint8)


def centre_crops(images, height=CROP, width=CROP):
    """The centred height x width windows of (N, H, W, 3) images, float32 in [0, 1]
    (uint8 images are divided by 255, float ones kept).

    >>> centre_crops(np.zeros((2, 64, 64, 3), np.uint8)).shape
    (2, 54, 54, 3)
    """
    top, left = (images.shape[1] - height) // 2, (images.shape[2] - width) // 2
    if top < 0 or left < 0:
        raise ValueError(f"images of {images.shape[1:3]} are smaller than the model's input {(height, width)}")
    crops = np.asarray(images[:, top : top + height, left : left + width])
    if crops.dtype == np.uint8:
        return crops.astype(np.float32) / np.float32(255)
    return crops.astype(np.float32)


def frame(image, record=None):
    """The model's view of one RGB PIL image: float32 (54, 54, 3) in [0, 1].

    record: its digitStruct entry to crop by, or None for the whole image.
    """
    box = None
    if record is not None:
        box = crop_box(record, *image.size)
        if box is None:
            raise ValueError(f"its digit boxes lie outside the {image.size[0]}x{image.size[1]} image")
    return centre_crops(frame_pixels(image, box)[None])[0]
