"""Stand-ins for tests of what happens after the models: a reader that answers given
logits, in order, and counts the frames it saw; a locator that finds the same boxes in
every photo."""


class ScriptedModel:
    def __init__(self, outputs):
        self.outputs, self.seen = outputs, 0

    def predict_on_batch(self, frames):
        chunk = {key: value[self.seen : self.seen + len(frames)] for key, value in self.outputs.items()}
        self.seen += len(frames)
        return chunk


def outputs_reading(readings):
    """Model outputs (length and digit logits) that decode to the given (number,
    probability) pairs, one per frame."""
    import numpy as np

    length = np.full((len(readings), 7), -20.0)
    digits = np.full((len(readings), 5, 10), -20.0)
    for n, (number, p) in enumerate(readings):
        length[n] = np.log((1 - p) / 6)
        length[n, len(number)] = np.log(p)
        for k, digit in enumerate(number):
            digits[n, k, int(digit)] = 20.0
    return {"length": length, "digits": digits}


class FixedBoxes:
    """A stand-in locator: the same boxes (kerasvhn.locator.Box) for every photo;
    counts its calls."""

    def __init__(self, *boxes):
        self.boxes, self.calls = list(boxes), 0

    def locate(self, images, min_score=None, max_boxes=10):
        self.calls += 1
        return [list(self.boxes[:max_boxes]) for _ in images]
