"""Argument checks shared by the public functions."""

import numpy as np


def check_int(name, value, minimum=0):
    """value as an int, or a ValueError naming the argument (bools are not ints here).

    >>> check_int("epochs", 3, 1)
    3
    >>> check_int("epochs", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an int >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)
