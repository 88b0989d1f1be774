"""kerasvhn.data.synth: shapes, determinism, label distribution, labels match the drawing."""

import numpy as np
import pytest

from kerasvhn import encode_numbers, labels_to_numbers
from kerasvhn.data import render_numbers, synth


@pytest.fixture(scope="module")
def sample():
    """400 images of seed 0 (about a second to render)."""
    return render_numbers(400, seed=0)


def test_shapes_and_dtypes(sample):
    images, labels = sample
    assert images.shape == (400, 64, 64, 3) and images.dtype == np.uint8
    assert set(labels) == {"length", "digits"}
    assert labels["length"].shape == (400,) and labels["length"].dtype == np.int32
    assert labels["digits"].shape == (400, 5) and labels["digits"].dtype == np.int32


def test_same_seed_same_images_and_prefixes_agree(sample):
    images, labels = render_numbers(30, seed=0)
    np.testing.assert_array_equal(images, sample[0][:30])
    np.testing.assert_array_equal(labels["length"], sample[1]["length"][:30])
    np.testing.assert_array_equal(labels["digits"], sample[1]["digits"][:30])


def test_other_seeds_other_images(sample):
    images, labels = render_numbers(30, seed=1)
    assert not np.array_equal(images, sample[0][:30])
    # Not a single image in common with seed 0.
    differences = np.abs(images[:, None].astype(int) - sample[0][None, :30].astype(int)).mean(axis=(2, 3, 4))
    assert differences.min() > 2
    assert labels_to_numbers(labels) != labels_to_numbers({k: v[:30] for k, v in sample[1].items()})


def test_images_are_not_blank(sample):
    images = sample[0].astype(np.float32)
    # Every image varies (digits, texture, noise), and the set uses the whole range.
    assert images.std(axis=(1, 2, 3)).min() > 3
    assert images.min() < 30 and images.max() > 225
    # Colours vary between images.
    assert images.mean(axis=(1, 2)).std(axis=0).min() > 20


def test_images_with_digits_have_more_structure(sample):
    """Images of numbers have strong edges in the middle rows where the digits are;
    on average more than the images without a number."""
    images, labels = sample
    grey = images.astype(np.float32).mean(axis=-1)
    edges = np.abs(np.diff(grey[:, 16:48, 8:56], axis=2)).mean(axis=(1, 2))
    numbers = labels["length"] > 0
    assert edges[numbers].mean() > edges[~numbers].mean()


def test_length_distribution_is_svhn_like(sample):
    length = sample[1]["length"]
    counts = np.bincount(length, minlength=7)
    assert counts[6] == 0, "no number longer than 5 digits"
    expected = np.array(synth.LENGTH_PROBABILITIES) * length.size
    # Within 5 standard deviations of the binomial counts.
    sigma = np.sqrt(expected * (1 - np.array(synth.LENGTH_PROBABILITIES)))
    assert np.all(np.abs(counts[:6] - expected) < 5 * sigma + 1), (counts, expected)
    assert counts[0] > 0, "some images have no number"
    assert counts[1:4].sum() > 0.7 * length.size, "mostly 1 to 3 digits"


def test_labels_are_valid_and_padded(sample):
    length, digits = sample[1]["length"], sample[1]["digits"]
    positions = np.arange(5)[None, :]
    assert np.all(digits[positions >= length[:, None]] == 0)
    numbers = labels_to_numbers(sample[1])
    assert all(n == "" or (n.isdigit() and 1 <= len(n) <= 5) for n in numbers)
    # The labels round-trip through encode_numbers.
    again = encode_numbers(numbers)
    np.testing.assert_array_equal(again["digits"], digits)
    # Every digit appears in every position that exists.
    for position in range(3):
        assert set(digits[length > position, position]) == set(range(10))


def test_labels_match_the_drawn_text(monkeypatch):
    """The characters laid out on each image are exactly its label's digits, or,
    for an image without a number, nothing or only non-digit distractors."""
    drawn = []
    layout = synth._layout

    def spy(rng, glyphs, text):
        drawn.append(text)
        return layout(rng, glyphs, text)

    monkeypatch.setattr(synth, "_layout", spy)
    images, labels = render_numbers(60, seed=3)
    numbers = labels_to_numbers(labels)
    texts = iter(drawn)
    for number in numbers:
        if number:
            assert next(texts) == number
    # What is left was drawn on images with no number: letters and symbols only.
    leftovers = list(texts)
    assert len(drawn) == sum(1 for n in numbers if n) + len(leftovers)
    assert all(text and not any(c.isdigit() for c in text) for text in leftovers)
    # And the monkeypatched run is the same as a plain one.
    monkeypatch.setattr(synth, "_layout", layout)
    np.testing.assert_array_equal(render_numbers(60, seed=3)[0], images)


def test_labels_match_the_drawn_text_in_order(monkeypatch):
    """Same as above, image by image: record which image each layout belongs to."""
    drawn = {}
    render_one = synth._render_one
    current = {}

    def spy_render(index, *args):
        current["index"] = index
        return render_one(index, *args)

    layout = synth._layout

    def spy_layout(rng, glyphs, text):
        drawn[current["index"]] = text
        return layout(rng, glyphs, text)

    monkeypatch.setattr(synth, "_render_one", spy_render)
    monkeypatch.setattr(synth, "_layout", spy_layout)
    _, labels = render_numbers(80, seed=4)
    for index, number in enumerate(labels_to_numbers(labels)):
        if number:
            assert drawn[index] == number
        elif index in drawn:
            assert not any(c.isdigit() for c in drawn[index])


def test_max_digits_and_size():
    images, labels = render_numbers(50, seed=2, max_digits=3, size=32)
    assert images.shape == (50, 32, 32, 3)
    assert labels["digits"].shape == (50, 3)
    assert labels["length"].max() <= 3
    images, labels = render_numbers(20, seed=2, max_digits=7)
    assert labels["digits"].shape == (20, 7) and labels["length"].max() <= 5


def test_zero_images():
    images, labels = render_numbers(0)
    assert images.shape == (0, 64, 64, 3) and labels["length"].shape == (0,)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": -1},
        {"count": 2.5},
        {"count": 3, "seed": -1},
        {"count": 3, "seed": "a"},
        {"count": 3, "max_digits": 0},
        {"count": 3, "size": 8},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="must be"):
        render_numbers(**kwargs)


def test_fonts_have_all_digits():
    fonts = synth._fonts()
    assert len(fonts) >= 15
    for glyphs in fonts:
        masks = [glyphs[str(d)].mask for d in range(10)]
        assert all(mask.max() > 200 for mask in masks)
        assert len({mask.tobytes() for mask in masks}) == 10
