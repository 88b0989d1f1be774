"""A stand-in for the locator's network in tests: outputs that find the bright
rectangle in their input, so that where boxes land can be checked exactly."""

import numpy as np


class BrightPlate:
    """Called as `predict_on_batch`: the heat map's peak at the bright rectangle's
    centre cell, its box exactly around it; at input sides other than `exact_side`
    (when given) the box is `widen` times too wide. `sides` records the input sides."""

    def __init__(self, exact_side=None, widen=1.0):
        self.exact_side, self.widen, self.sides = exact_side, widen, []

    def __call__(self, images):
        count, height, width = images.shape[:3]
        self.sides.append(height)
        grow = 1.0 if self.exact_side in (None, height) else self.widen
        heat = np.full((count, height // 8, width // 8, 1), -10.0)
        box = np.zeros((count, height // 8, width // 8, 4))
        for k, image in enumerate(np.asarray(images)):
            ys, xs = np.nonzero(image.mean(axis=-1) > 0.5)
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            cx, cy = (x0 + x1) / 16, (y0 + y1) / 16  # in cells
            col, row = int(cx), int(cy)
            heat[k, row, col] = 5.0
            box[k, row, col] = (cx - col - 0.5, cy - row - 0.5, np.log(grow * (x1 - x0) / 8), np.log((y1 - y0) / 8))
        return {"heat": heat, "box": box}
