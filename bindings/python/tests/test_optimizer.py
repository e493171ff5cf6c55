"""Optimizer: options, bounds, learning-rate schedule, state."""

import math
import unittest

from helpers import diffuse, small_model


class OptimizerTest(unittest.TestCase):
    def setUp(self):
        self.model = small_model()

    def tearDown(self):
        self.model.close()

    def test_defaults_and_kind(self):
        with diffuse.Optimizer(self.model) as adamw, \
                diffuse.Optimizer(self.model, "adam") as adam:
            self.assertEqual(adamw.kind, diffuse.OptimizerKind.ADAMW)
            self.assertEqual(adam.kind, diffuse.OptimizerKind.ADAM)
            self.assertEqual(adamw.weight_decay, 0.01)
            self.assertEqual(adam.weight_decay, 0.0)
            self.assertEqual(adamw.learning_rate, 1e-3)
            self.assertEqual(adamw.decay, diffuse.LRDecay.NONE)
            self.assertEqual(adamw.step_count, 0)
            self.assertEqual(len(adamw.options()), 11)

    def test_options_as_keywords_and_properties(self):
        with diffuse.Optimizer(self.model, learning_rate=0.01, warmup_steps=10,
                               decay="cosine", decay_steps=100, min_learning_rate=0.001,
                               clip_norm=1.0, ema_decay=0.99) as optimizer:
            self.assertEqual(optimizer.decay, diffuse.LRDecay.COSINE)
            self.assertAlmostEqual(optimizer.current_learning_rate, 0.01 / 10)
            optimizer.warmup_steps = 0
            self.assertAlmostEqual(optimizer.current_learning_rate, 0.01)
            optimizer.beta2 = 0.99
            self.assertEqual(optimizer.get_option("beta2"), 0.99)
            optimizer.reset()
            self.assertEqual(optimizer.step_count, 0)

    def test_out_of_range_and_wrong_values(self):
        with diffuse.Optimizer(self.model) as optimizer:
            with self.assertRaises(diffuse.OutOfRangeError) as caught:
                optimizer.learning_rate = 2.0
            self.assertIn("learning", caught.exception.message.lower())
            self.assertEqual(optimizer.learning_rate, 1e-3)
            with self.assertRaises(diffuse.NumericError):
                optimizer.beta1 = math.nan
            with self.assertRaises(diffuse.InvalidArgumentError):
                optimizer.decay = "exponential"
            with self.assertRaises(TypeError):
                diffuse.Optimizer(self.model, lr=0.1)

    def test_decay_without_steps_is_a_state_error(self):
        with diffuse.Optimizer(self.model, decay="linear") as optimizer:
            with self.assertRaises(diffuse.StateError):
                optimizer.current_learning_rate

    def test_bounds(self):
        self.assertEqual(diffuse.Optimizer.bounds("learning_rate"), (0.0, 1.0))
        self.assertEqual(diffuse.Optimizer.bounds("warmup_steps"), (0, 2 ** 31 - 1))

    def test_callback_model_cannot_be_optimized(self):
        with diffuse.Model.callback(2, lambda x, t: x) as model:
            with self.assertRaises(diffuse.InvalidArgumentError):
                diffuse.Optimizer(model)


if __name__ == "__main__":
    unittest.main()
