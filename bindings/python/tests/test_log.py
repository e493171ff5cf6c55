"""The library's warnings arrive as diffuse.DiffuseWarning."""

import unittest
import warnings

from helpers import diffuse


class LogTest(unittest.TestCase):
    def sampler_warnings(self, steps):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with diffuse.Model(2) as model, diffuse.Schedule("linear", steps) as schedule:
                diffuse.Sampler(model, schedule).close()
        return [w for w in caught if issubclass(w.category, diffuse.DiffuseWarning)]

    def test_short_schedule_warns_with_the_library_message(self):
        caught = self.sampler_warnings(50)
        self.assertEqual(len(caught), 1)
        self.assertIn("alpha_bar[T-1] = 0.6", str(caught[0].message))
        self.assertIn("respacing", str(caught[0].message))

    def test_long_schedule_is_silent(self):
        self.assertEqual(self.sampler_warnings(1000), [])

    def test_ignore_filter_silences_it(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore", diffuse.DiffuseWarning)
            with diffuse.Model(2) as model, diffuse.Schedule("linear", 50) as schedule:
                diffuse.Sampler(model, schedule).close()
        self.assertEqual(caught, [])


if __name__ == "__main__":
    unittest.main()
