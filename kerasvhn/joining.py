"""Numbers found in pieces: neighbouring located boxes joined into one more candidate.

On real photos the locator sometimes boxes a number in parts ("22" and "02" of 2202,
or the top and bottom halves of a vertical plate), and each part reads as a shorter
number. So `read_photos_located` also reads the union of every two boxes that sit
side by side on one line (their heights within SIZE_RATIO of each other, overlapping
by OVERLAP of the lower one's height, at most GAP of their mean height apart) or one
above the other in one column (the same with widths), where the union is at least
GROWTH times the larger box. A union's score is its better part's; it competes with
the parts like any box (confidence times score). The rule was fixed beforehand and the
score (the better part's, against the mean or the weaker part's) chosen on synthetic
validation photos.
"""

#: Boxes on one line overlap vertically by at least this share of the lower one's height.
OVERLAP = 0.5
#: ... and their heights differ by at most this factor.
SIZE_RATIO = 1.5
#: ... and the gap between them is at most this share of their mean height.
GAP = 0.5
#: A union is a new candidate only when at least this many times as wide (tall) as the larger part.
GROWTH = 1.1


def _aligned(a_low, a_size, b_low, b_size, c_low, c_size, d_low, d_size):
    """Whether boxes a and b, spanning (c_low, c_size) and (d_low, d_size) along the
    line, and (a_low, a_size), (b_low, b_size) across it, are neighbours on one line."""
    across = min(a_low + a_size, b_low + b_size) - max(a_low, b_low)
    along = min(c_low + c_size, d_low + d_size) - max(c_low, d_low)
    return (across >= OVERLAP * min(a_size, b_size) and max(a_size, b_size) <= SIZE_RATIO * min(a_size, b_size)
            and -along <= GAP * (a_size + b_size) / 2)


def with_unions(boxes):
    """`boxes` (kerasvhn.locator.Box, or named tuples with its fields) followed by the
    unions of every two neighbours.

    >>> from kerasvhn.locator import Box
    >>> [tuple(b) for b in with_unions([Box(10, 10, 20, 30, 0.9), Box(34, 12, 22, 30, 0.6)])][2]
    (10, 10, 46, 32, 0.9)
    >>> len(with_unions([Box(10, 10, 20, 30, 0.9), Box(200, 10, 20, 30, 0.6)]))
    2
    """
    boxes = list(boxes)
    joined = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            row = _aligned(a.top, a.height, b.top, b.height, a.left, a.width, b.left, b.width)
            column = _aligned(a.left, a.width, b.left, b.width, a.top, a.height, b.top, b.height)
            if not (row or column):
                continue
            left, top = min(a.left, b.left), min(a.top, b.top)
            width = max(a.left + a.width, b.left + b.width) - left
            height = max(a.top + a.height, b.top + b.height) - top
            if row and width >= GROWTH * max(a.width, b.width) or (
                    not row and height >= GROWTH * max(a.height, b.height)):
                joined.append(a._replace(left=left, top=top, width=width, height=height, score=max(a.score, b.score)))
    return boxes + joined
