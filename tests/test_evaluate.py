"""kerasvhn.evaluate: the scores of a reader whose answers we choose."""

import numpy as np
import pytest

from kerasvhn import encode_numbers
from kerasvhn.evaluate import by_length_text, evaluate_model, summary_lines


class ScriptedReader:
    """Answers each 54x54 crop with a chosen number, confidently."""

    def __init__(self, answers, max_digits=5):
        labels = encode_numbers(answers, max_digits)
        self.length = np.full((len(answers), max_digits + 2), -10.0, np.float32)
        self.length[np.arange(len(answers)), labels["length"]] = 10.0
        self.digits = np.full((len(answers), max_digits, 10), -10.0, np.float32)
        rows, positions = np.indices(labels["digits"].shape)
        self.digits[rows, positions, labels["digits"]] = 10.0

    def predict(self, x, batch_size=None, verbose=0):
        n = len(x)
        return {"length": self.length[:n], "digits": self.digits[:n]}


@pytest.fixture
def scores():
    truth = ["7", "12", "34", "56", "789", "1234567", "", "90"]
    answers = ["7", "12", "43", "56", "788", "12345+", "", "9"]
    images = np.zeros((len(truth), 64, 64, 3), np.uint8)
    return evaluate_model(ScriptedReader(answers), images, encode_numbers(truth))


def test_whole_number_and_per_length_accuracy(scores):
    assert scores["whole_number_accuracy"] == pytest.approx(5 / 8)
    assert scores["by_length"] == {
        0: {"count": 1, "accuracy": 1.0},
        1: {"count": 1, "accuracy": 1.0},
        2: {"count": 4, "accuracy": 0.5},
        3: {"count": 1, "accuracy": 0.0},
        6: {"count": 1, "accuracy": 1.0},
    }
    # The label's positions: 1 + 2 + 2 + 2 + 3 + 5 + 2 = 17; wrong: both of "43" and
    # the last of "788". "9" for "90" is a wrong number with both digit heads right
    # (its second head's best digit is 0): the length head is what failed.
    assert scores["per_digit_accuracy"] == pytest.approx(14 / 17)


def test_report_lines_name_every_length(scores):
    text = by_length_text(scores)
    assert text == ("no number 100.0% (1), 1 digit 100.0% (1), 2 digits 50.0% (4), 3 digits 0.0% (1), "
                    "more than 5 digits 100.0% (1)")
    lines = summary_lines(scores, "scripted")
    assert "whole-number accuracy: 62.5%" in lines
    assert lines[-1] == "by length: " + text
