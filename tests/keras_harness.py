"""The one place the tests import Keras's private layer test harness (keras is pinned)."""

from keras.src.testing import TestCase as KerasLayerTestCase

__all__ = ["KerasLayerTestCase"]
