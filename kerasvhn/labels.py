"""The label format, in NumPy only (no Keras): what every stage of kerasvhn agrees on.

A batch of labels is a dict `{"length": int (B,), "digits": int (B, max_digits)}`.
`length` is the number of digits, 0..max_digits, 0 meaning "no number in the image",
or max_digits + 1 for "more than max_digits digits" (the "more" class, whose digits
hold the first max_digits); digits past the length are 0 and ignored. As strings:
"" for no number, "12345+" for the "more" class.
"""

import numpy as np

MORE_SUFFIX = "+"


def more_class(max_digits):
    """The length class meaning "more than max_digits digits"."""
    return max_digits + 1


def encode_numbers(numbers, max_digits=5):
    """Encodes number strings as labels.

    A number longer than max_digits gets the "more" length class and keeps its
    first max_digits digits. A trailing "+" (as `labels_to_numbers` writes for that
    class) is accepted, so the two functions round-trip.

    >>> labels = encode_numbers(["1234", "57", ""])
    >>> labels["length"].tolist(), labels["digits"][0].tolist()
    ([4, 2, 0], [1, 2, 3, 4, 0])
    """
    numbers = list(numbers)
    length = np.zeros((len(numbers),), np.int32)
    digits = np.zeros((len(numbers), max_digits), np.int32)
    for row, number in enumerate(numbers):
        if not isinstance(number, str):
            raise TypeError(f"numbers must be strings of digits, got {number!r} at index {row}")
        text = number[: -len(MORE_SUFFIX)] if number.endswith(MORE_SUFFIX) else number
        if not text.isascii() or not (text.isdigit() or text == ""):
            raise ValueError(f"{number!r} at index {row} is not a string of digits 0-9")
        if number.endswith(MORE_SUFFIX) and len(text) != max_digits:
            raise ValueError(
                f"{number!r} at index {row}: a '+' number must carry exactly {max_digits} digits"
            )
        long = len(text) > max_digits or number.endswith(MORE_SUFFIX)
        length[row] = more_class(max_digits) if long else len(text)
        kept = text[:max_digits]
        digits[row, : len(kept)] = [int(c) for c in kept]
    return {"length": length, "digits": digits}


def labels_to_numbers(labels):
    """Turns labels back into strings ("" for no number, "12345+" for "more").

    >>> labels_to_numbers(encode_numbers(["907", "", "1234567"]))
    ['907', '', '12345+']
    """
    length = np.asarray(labels["length"]).reshape(-1)
    digits = np.asarray(labels["digits"])
    max_digits = digits.shape[-1]
    _check_labels(length, digits)
    return [number_string(n, row, max_digits) for n, row in zip(length, digits)]


def number_string(length, digits, max_digits):
    """One label as a string: its first `length` digits, "+" after them for "more".

    >>> number_string(6, [1, 2, 3, 4, 5], 5)
    '12345+'
    """
    shown = min(int(length), max_digits)
    text = "".join(str(int(d)) for d in digits[:shown])
    return text + MORE_SUFFIX if length == more_class(max_digits) else text


def _check_labels(length, digits):
    if digits.ndim != 2 or digits.shape[0] != length.shape[0]:
        raise ValueError(
            f"labels must be length (B,) and digits (B, max_digits); got length "
            f"{length.shape} and digits {digits.shape}"
        )
    max_digits = digits.shape[1]
    if length.size and (length.min() < 0 or length.max() > more_class(max_digits)):
        raise ValueError(f"length labels must be in 0..{more_class(max_digits)}")
    if digits.size and (digits.min() < 0 or digits.max() > 9):
        raise ValueError("digit labels must be in 0..9")
