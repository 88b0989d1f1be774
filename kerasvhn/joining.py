"""Numbers found in pieces: neighbouring located boxes joined into one more candidate.

On real photos the locator sometimes boxes a number in parts (a tight 2202 as two
overlapping boxes read "2201" and "202"; the top and bottom halves of a vertical
plate), and each part reads as a wrong or shorter number. So `read_photos_located` also reads the union of every two boxes that sit
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


def _on_one_line(across, along):
    """Whether two boxes are neighbours on one line: `across` their (start, size) pairs
    across the line (their heights, for a row), `along` the same along it."""
    (a_start, a_size), (b_start, b_size) = across
    (c_start, c_size), (d_start, d_size) = along
    overlap = min(a_start + a_size, b_start + b_size) - max(a_start, b_start)
    gap = max(c_start, d_start) - min(c_start + c_size, d_start + d_size)
    return (overlap >= OVERLAP * min(a_size, b_size) and max(a_size, b_size) <= SIZE_RATIO * min(a_size, b_size)
            and gap <= GAP * (a_size + b_size) / 2)


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
            spans = ((a.top, a.height), (b.top, b.height)), ((a.left, a.width), (b.left, b.width))
            row, column = _on_one_line(*spans), _on_one_line(*reversed(spans))
            if not (row or column):
                continue
            left, top = min(a.left, b.left), min(a.top, b.top)
            width = max(a.left + a.width, b.left + b.width) - left
            height = max(a.top + a.height, b.top + b.height) - top
            if row and width >= GROWTH * max(a.width, b.width) or (
                    not row and height >= GROWTH * max(a.height, b.height)):
                joined.append(a._replace(left=left, top=top, width=width, height=height, score=max(a.score, b.score)))
    return boxes + joined
