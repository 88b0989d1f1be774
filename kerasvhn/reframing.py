"""Unsure readings of a located box: the box read again in frames around it.

A locator's box a little off its number (too wide, into a neighbouring sign's
letters; too short, cutting an end digit) can leave the reader unsure: it guesses a
number below `min_confidence` ("14381" for 1438), which the two stages answer as "".
So a box whose reading is such a rejected guess is read again in VIEWS, frames around
it (its width and height scaled, its centre moved), and the surest view's number
replaces the rejection when it is at least SURE probable.
"""

import numpy as np

#: Views of a box, (width scale, height scale, shift right, shift down), the shifts as
#: shares of its width and height: its width and height each scaled by 0.85, 1 or 1.15
#: (the box itself left out). Chosen with SURE on the locator's synthetic validation
#: photos (two-stage readings right; never on real photos) over these 8 views and 12
#: (4 more, moved by 10% each way), SURE 0.3, 0.5 or 0.7, and confirmed on fresh ones.
VIEWS = tuple((sx, sy, 0.0, 0.0) for sx in (0.85, 1.0, 1.15) for sy in (0.85, 1.0, 1.15) if (sx, sy) != (1.0, 1.0))
#: The least probability of a view's reading to replace a rejected guess.
SURE = 0.5


def view_box(box, view):
    """(left, top, width, height) scaled by (sx, sy) about its centre and moved by
    (dx, dy) of its width and height.

    >>> view_box((100, 50, 60, 20), (1.5, 1.0, 0.1, 0.0))
    (91.0, 50.0, 90.0, 20.0)
    """
    left, top, width, height = (float(v) for v in box[:4])
    sx, sy, dx, dy = view
    return (left + width * (1 - sx) / 2 + dx * width, top + height * (1 - sy) / 2 + dy * height,
            width * sx, height * sy)


def prefer_reframed(model, images, boxes, readings, views=VIEWS, sure=SURE, batch_size=256):
    """`readings` (one per image, of its `boxes`: (left, top, width, height)), each
    rejected guess replaced by the surest reading of its box's views that is a number
    at least `sure` probable. The reading keeps its box."""
    from kerasvhn.predict import box_frame, read_frames

    wanted = [i for i, reading in enumerate(readings) if reading.rejected is not None] if views else []
    if not wanted:
        return list(readings)
    frames = np.stack([box_frame(images[i], view_box(boxes[i], view)) for i in wanted for view in views])
    seen = read_frames(model, frames, batch_size, 0.0)
    answers = list(readings)
    for n, i in enumerate(wanted):
        best = max(seen[n * len(views) : (n + 1) * len(views)], key=lambda r: r.confidence if r.number else -1.0)
        if best.number and best.confidence >= sure:
            answers[i] = readings[i]._replace(number=best.number, confidence=best.confidence, rejected=None,
                                              rejected_confidence=None)
    return answers
