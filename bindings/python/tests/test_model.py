"""ModelConfig and Model: options, parameters, prediction, callback models."""

import array
import math
import traceback
import unittest

from helpers import diffuse, small_model, values


class ModelConfigTest(unittest.TestCase):
    def test_options_by_name_with_enums_and_defaults(self):
        with diffuse.ModelConfig(3, hidden_width=16, activation="gelu") as config:
            self.assertEqual(config["hidden_width"], 16)
            self.assertEqual(config["activation"], diffuse.Activation.GELU)
            self.assertEqual(config["hidden_layers"], 3)  # default
            with self.assertRaisesRegex(TypeError, "hidden_width takes an integer; got 2.5"):
                config["hidden_width"] = 2.5
            config["residual"] = False
            self.assertIs(config["residual"], False)
            config.hidden_layers = 2  # options are attributes too
            self.assertEqual((config.hidden_layers, config["hidden_layers"]), (2, 2))
            with self.assertRaises(AttributeError):
                config.no_such_option
            self.assertEqual((config.dim, config.architecture), (3, diffuse.Architecture.MLP))
            self.assertIn("time_max_period", config.option_names())
            self.assertEqual(config.options()["prediction"], diffuse.Prediction.EPSILON)
            copy = config.copy()
        self.assertEqual(copy["hidden_width"], 16)
        copy.close()

    def test_errors(self):
        with diffuse.ModelConfig(2) as config:
            with self.assertRaises(diffuse.OutOfRangeError) as caught:
                config["time_embed_dim"] = 7  # odd
            self.assertTrue(caught.exception.message)
            with self.assertRaises(KeyError):
                config["no_such_option"] = 1
            with self.assertRaises(diffuse.NumericError):
                config["time_max_period"] = math.inf
        with self.assertRaisesRegex(TypeError, "unexpected option 'width'"):
            diffuse.ModelConfig(2, width=3)
        with self.assertRaises(diffuse.OutOfRangeError):
            diffuse.ModelConfig(0)

    def test_bounds_and_names(self):
        self.assertEqual(diffuse.ModelConfig.bounds("hidden_width"), (1, 65536))
        self.assertEqual(diffuse.architecture_name("callback"), "callback")
        with self.assertRaises(diffuse.InvalidArgumentError):
            diffuse.ModelConfig.bounds("nope")


class ModelTest(unittest.TestCase):
    def test_parameter_count_and_layout(self):
        with small_model(2) as model:
            h, e, d, layers = 32, 16, 2, 1
            expected = h * e + h + h * h + h + h * d + h + layers * (h * h + h) + d * h + d
            self.assertEqual(model.param_count, expected)
            tensors = model.tensors
            self.assertEqual(tensors[0], diffuse.TensorInfo("time_mlp.0.weight", 0, (h, e)))
            self.assertEqual(tensors[-1].name, "output.bias")
            self.assertEqual(tensors[-1].offset + tensors[-1].shape[0], expected)
            self.assertEqual(model.config["hidden_width"], 32)
            self.assertEqual((model.dim, model.prediction), (2, diffuse.Prediction.EPSILON))

    def test_params_round_trip_and_seeded_init(self):
        with small_model(2) as a, small_model(2) as b, small_model(2, seed=4) as c:
            self.assertEqual(values(a.params), values(b.params))
            self.assertNotEqual(values(a.params), values(c.params))
            c.params = a.params
            self.assertEqual(values(c.params), values(a.params))
            with self.assertRaises(diffuse.MismatchError):
                a.params = array.array("f", [0.0] * 5)
            self.assertFalse(a.has_ema)
            with self.assertRaises(diffuse.StateError):
                a.ema_params
            a.ema_params = a.params
            self.assertTrue(a.has_ema)

    def test_predict(self):
        with small_model(2) as model:
            x = [[0.1, 0.2], [0.3, -0.4], [1.0, 0.0]]
            out = model.predict(x, [0, 10, 999])
            self.assertEqual(len(values(out)), 6)
            self.assertTrue(all(math.isfinite(v) for v in values(out)))
            again = model.predict(x, [0, 10, 999])
            self.assertEqual(values(out), values(again))
            single_t = model.predict(x, 10)
            self.assertEqual(values(single_t)[2:4], values(out)[2:4])
            with self.assertRaisesRegex(ValueError, "3 timesteps for 2 rows"):
                model.predict(x[:2], [0, 1, 2])
            with self.assertRaisesRegex(ValueError, "flat with a multiple of 2 values; got 3"):
                model.predict([0.1, 0.2, 0.3], 0)
            with self.assertRaises(diffuse.NumericError):
                model.predict([math.nan, 0.0], 0)
            with self.assertRaises(diffuse.InvalidArgumentError):
                model.predict([0.0, 0.0], -1)

    def test_model_needs_dim_or_config(self):
        with self.assertRaises(TypeError):
            diffuse.Model()
        with diffuse.ModelConfig(2, hidden_width=8) as config:
            with diffuse.Model(config=config) as model:
                self.assertEqual(model.config["hidden_width"], 8)
            with self.assertRaises(TypeError):
                diffuse.Model(2, config=config)
        with self.assertRaises(diffuse.InvalidArgumentError):
            diffuse.Model(2, arch="callback")


def failing_prediction(x_t, t):
    raise ZeroDivisionError("raised inside the prediction callback")


class CallbackModelTest(unittest.TestCase):
    def test_python_function_predicts(self):
        def halve(x_t, t):
            return [0.5 * v for v in values(x_t)]

        with diffuse.Model.callback(2, halve) as model:
            self.assertEqual(model.architecture, diffuse.Architecture.CALLBACK)
            self.assertEqual(model.param_count, 0)
            self.assertEqual(values(model.predict([2.0, 4.0, -1.0, 0.0], [1, 2])),
                             [1.0, 2.0, -0.5, 0.0])

    def test_callback_receives_copies_of_inputs_and_timesteps(self):
        seen = []

        def record(x_t, t):
            seen.append((values(x_t), list(int(v) for v in t)))
            return x_t

        with diffuse.Model.callback(1, record, prediction="v") as model:
            self.assertEqual(model.prediction, diffuse.Prediction.V)
            model.predict([3.0, 4.0], [5, 6])
        self.assertEqual(seen, [([3.0, 4.0], [5, 6])])

    def test_labels_reach_the_callback(self):
        seen = []

        def conditional(x_t, t, labels=None):
            seen.append(None if labels is None else list(int(v) for v in labels))
            return x_t

        with diffuse.Model.callback(1, conditional) as model:
            model.predict([3.0, 4.0], [5, 6])
            model.predict([3.0, 4.0], [5, 6], labels=[1, 2])
            model.predict([3.0, 4.0], 0, labels=7)
            with self.assertRaises(ValueError):
                model.predict([3.0, 4.0], 0, labels=[1, 2, 3])
        self.assertEqual(seen, [None, [1, 2], [7, 7]])

    def test_x0_prediction(self):
        with diffuse.Model.callback(1, lambda x_t, t: x_t, prediction="x0") as model:
            self.assertEqual(model.prediction, diffuse.Prediction.X0)

    def test_exception_is_re_raised_with_its_traceback(self):
        with diffuse.Model.callback(2, failing_prediction) as model:
            try:
                model.predict([0.0, 0.0], 0)
            except ZeroDivisionError as error:
                frames = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
            else:
                self.fail("the callback's exception was not re-raised")
            self.assertEqual(frames[0], "test_exception_is_re_raised_with_its_traceback")
            self.assertEqual(frames[-1], "failing_prediction")
            # the model stays usable and the failure does not linger
            with self.assertRaises(ZeroDivisionError):
                model.predict([0.0, 0.0], 0)

    def test_wrong_result_size_is_reported(self):
        with diffuse.Model.callback(2, lambda x, t: [1.0]) as model:
            with self.assertRaisesRegex(ValueError,
                                        r"prediction must have shape \(n, 2\) .*; got 1 values"):
                model.predict([0.0, 0.0], 0)

    def test_non_finite_result_is_a_numeric_error(self):
        with diffuse.Model.callback(1, lambda x, t: [math.nan]) as model:
            with self.assertRaises(diffuse.NumericError):
                model.predict([0.0], 0)


if __name__ == "__main__":
    unittest.main()
