"""Model.warning: advice on a valid configuration known not to work."""

import unittest
import warnings

from helpers import diffuse, missing


@unittest.skipIf(missing("diffuse_model_warning"), "the library gives no model advice yet")
class ModelWarningTest(unittest.TestCase):
    def test_width_below_dim_warns_at_creation(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with diffuse.Model(16, hidden_width=8) as model:
                self.assertIn("hidden_width 8 is below the data dimension 16", model.warning)
        self.assertEqual([w.category for w in caught], [diffuse.DiffuseWarning])
        self.assertIn("hidden_width >= 16", str(caught[0].message))

    def test_a_wide_enough_model_is_quiet(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with diffuse.Model(16, hidden_width=16) as model:
                self.assertEqual(model.warning, "")
        self.assertEqual(caught, [])


if __name__ == "__main__":
    unittest.main()
