"""One rule for names and argument order: what describes a handle without
arguments is a property (Model.params, Model.tensors); batched formulas take
the array first and t second, as Model.predict(x_t, t) does
(Schedule.q_sample(x0, t, eps)). The earlier spellings still work, with a
DeprecationWarning that points at the caller."""

import unittest
import warnings

from helpers import diffuse, floats, small_model, values


class DeprecatedSpellingTest(unittest.TestCase):
    def assertDeprecated(self, call, pattern):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = call()
        deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
        self.assertEqual(len(deprecations), 1, [str(w.message) for w in caught])
        self.assertRegex(str(deprecations[0].message), pattern)
        self.assertEqual(deprecations[0].filename, __file__)
        return result

    def assertNotDeprecated(self, call):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            return call()

    def test_schedule_formulas_take_the_array_first(self):
        x0, eps = floats([0.5, -1.0, 2.0, 0.25]), floats([1.0, 0.0, -1.0, 0.5])
        with diffuse.Schedule("linear", 1000) as s:
            new = values(self.assertNotDeprecated(lambda: s.q_sample(x0, [3, 700], eps)))
            old = self.assertDeprecated(lambda: s.q_sample([3, 700], x0, eps),
                                        r"q_sample\(t, x0, \.\.\.\) is deprecated.*"
                                        r"q_sample\(x0, t, \.\.\.\)")
            self.assertEqual(values(old), new)
            self.assertEqual(values(self.assertDeprecated(lambda: s.q_sample(3, x0, eps),
                                                          "deprecated")),
                             values(s.q_sample(x0, 3, eps)))
            xt = s.q_sample(x0, [3, 700], eps)
            self.assertEqual(values(self.assertDeprecated(
                lambda: s.posterior_mean([3, 700], x0, xt), "posterior_mean")),
                values(s.posterior_mean(x0, [3, 700], xt)))
            with diffuse.Rng(4) as first, diffuse.Rng(4) as second:
                self.assertEqual(values(self.assertDeprecated(
                    lambda: s.q_sample_rng([3, 700], x0, first), "q_sample_rng")),
                    values(s.q_sample_rng(x0, [3, 700], second)))

    def test_whole_numbers_as_data_are_not_mistaken_for_timesteps(self):
        with diffuse.Schedule("linear", 1000) as s:
            # x0 of ints, t an int: the new order, no warning
            result = self.assertNotDeprecated(lambda: s.q_sample([1, 2], 5, [0, 0]))
            self.assertEqual(values(result), values(s.q_sample(floats([1, 2]), 5, floats([0, 0]))))

    def test_model_tensors_is_a_property(self):
        with small_model(2) as model:
            layout = self.assertNotDeprecated(lambda: model.tensors)
            self.assertEqual(layout[0].name, "time_mlp.0.weight")
            self.assertEqual(self.assertDeprecated(lambda: model.tensors(), "property"), layout)


if __name__ == "__main__":
    unittest.main()
