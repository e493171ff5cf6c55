"""Arguments the binding must check before they reach C: scalar timesteps
outside int32 (ctypes would wrap them modulo 2^32), non-integer timesteps,
and paths with an embedded NUL (C would stop reading the name there and use
another file)."""

import os
import shutil
import tempfile
import unittest

from helpers import diffuse, floats, small_model, values


class TimestepTest(unittest.TestCase):
    def setUp(self):
        self.model = small_model()
        self.schedule = diffuse.Schedule("linear", 10)
        self.x = floats([0.5, -0.25, 1.0, 2.0])

    def tearDown(self):
        self.model.close()
        self.schedule.close()

    def test_scalar_timestep_outside_int32_raises(self):
        for t in (2**32 + 5, 2**31, -2**31 - 1, 2**64):
            with self.assertRaisesRegex(OverflowError, "outside the int32 range"):
                self.model.predict(self.x, t)
            with self.assertRaises(OverflowError):
                self.schedule.q_sample(self.x, t, self.x)
        # the list form raised already; the scalar now agrees with it
        with self.assertRaises(OverflowError):
            self.model.predict(self.x, [2**32 + 5, 2**32 + 5])
        self.assertEqual(values(self.model.predict(self.x, 5)),
                         values(self.model.predict(self.x, [5, 5])))

    def test_float_timesteps_are_refused_by_name(self):
        for t in (1.5, 2.0, [1.5, 2.0]):
            with self.assertRaisesRegex(TypeError, "t: timesteps must be integers"):
                self.model.predict(self.x, t)
            with self.assertRaisesRegex(TypeError, "t: timesteps must be integers"):
                self.schedule.q_sample(self.x, t, self.x)
        with self.assertRaisesRegex(TypeError, "t: timesteps must be integers .*; got float 1.5"):
            self.schedule.q_marginal(1.5)


class PathTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.model = small_model()
        self.schedule = diffuse.Schedule("linear", 10)

    def tearDown(self):
        self.model.close()
        self.schedule.close()
        shutil.rmtree(self.dir)

    def test_embedded_nul_is_refused_before_c(self):
        bad = os.path.join(self.dir, "model.safetensors\0.bak")
        with diffuse.Trainer(self.model, self.schedule) as trainer:
            calls = [lambda: self.model.save(bad, self.schedule),
                     lambda: diffuse.Model.load(bad),
                     lambda: trainer.save(bad.encode()),
                     lambda: diffuse.Trainer.load(bad)]
            for call in calls:
                with self.assertRaisesRegex(ValueError, "NUL"):
                    call()
        self.assertEqual(os.listdir(self.dir), [])  # nothing written under the cut name


if __name__ == "__main__":
    unittest.main()
