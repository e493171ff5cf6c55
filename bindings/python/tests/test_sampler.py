"""Sampler: shapes, determinism by seed, options, progress, callback models."""

import array
import gc
import math
import traceback
import unittest

from helpers import diffuse, numpy, small_model, values


class SamplerTest(unittest.TestCase):
    def setUp(self):
        self.schedule = diffuse.Schedule("linear", 50)
        self.model = small_model(2)

    def tearDown(self):
        self.model.close()
        self.schedule.close()

    def test_shape(self):
        with diffuse.Sampler(self.model, self.schedule) as sampler:
            samples = sampler.run(7)
        if numpy is not None:
            self.assertEqual(samples.shape, (7, 2))
            self.assertEqual(samples.dtype, numpy.float32)
        else:
            self.assertEqual((len(samples), samples.typecode), (14, "f"))
        self.assertTrue(all(math.isfinite(v) for v in values(samples)))

    def test_same_seed_same_samples(self):
        with diffuse.Sampler(self.model, self.schedule, seed=3) as a, \
                diffuse.Sampler(self.model, self.schedule, seed=3) as same, \
                diffuse.Sampler(self.model, self.schedule, seed=4) as c:
            first = values(a.run(10))
            self.assertEqual(values(a.run(10)), first)
            self.assertEqual(values(same.run(10)), first)
            self.assertNotEqual(values(c.run(10)), first)

    def test_chunking_changes_at_most_the_rounding(self):
        # the noise does not depend on chunks; the network's sgemm may round
        # differently for another chunk size (sampler.h)
        with diffuse.Sampler(self.model, self.schedule, seed=3) as whole, \
                diffuse.Sampler(self.model, self.schedule, seed=3, chunk_rows=4) as chunked:
            for a, b in zip(values(whole.run(10)), values(chunked.run(10))):
                self.assertAlmostEqual(a, b, delta=1e-3 * max(1.0, abs(a)))

    def test_out_buffer(self):
        out = array.array("f", bytes(4 * 6))
        with diffuse.Sampler(self.model, self.schedule) as sampler:
            self.assertIs(sampler.run(3, out=out), out)
            with self.assertRaisesRegex(ValueError, "must hold 4 values; got 6"):
                sampler.run(2, out=out)

    def test_options(self):
        with diffuse.Sampler(self.model, self.schedule, variance="posterior",
                             clip_x0=1.5, seed=8, threads=1) as sampler:
            self.assertEqual(sampler.variance, diffuse.Variance.POSTERIOR)
            self.assertEqual((sampler.clip_x0, sampler.seed, sampler.threads), (1.5, 8, 1))
            self.assertIs(sampler.use_ema, False)
            with self.assertRaises(diffuse.OutOfRangeError):
                sampler.clip_x0 = -1.0
            self.assertEqual(set(sampler.options()), set(diffuse.Sampler.OPTIONS))
            self.assertEqual(diffuse.Sampler.bounds("use_ema"), (0, 1))

    def test_ema_without_ema_weights_is_a_state_error(self):
        with diffuse.Sampler(self.model, self.schedule, use_ema=True) as sampler:
            with self.assertRaises(diffuse.StateError) as caught:
                sampler.run(2)
            self.assertTrue(caught.exception.message)

    def test_epsilon_model_with_zero_terminal_snr_is_unsupported(self):
        with diffuse.Schedule("linear", 20, zero_terminal_snr=True) as schedule, \
                diffuse.Sampler(self.model, schedule) as sampler:
            with self.assertRaises(diffuse.UnsupportedError):
                sampler.run(2)

    def test_zero_samples(self):
        with diffuse.Sampler(self.model, self.schedule) as sampler:
            with self.assertRaises(diffuse.InvalidArgumentError):
                sampler.run(0)

    def test_progress_and_cancel(self):
        calls = []

        def progress(done, total):
            calls.append((done, total))
            return done == 10

        with diffuse.Sampler(self.model, self.schedule) as sampler:
            sampler.run(3, progress=lambda done, total: calls.append((done, total)))
            self.assertEqual(calls[-1], (50, 50))
            calls.clear()
            with self.assertRaises(diffuse.CancelledError):
                sampler.run(3, progress=progress)
            self.assertEqual(len(calls), 10)
            sampler.run(3)  # the progress callback was cleared

    def test_sampler_keeps_the_model_alive(self):
        model = small_model(2)
        sampler = diffuse.Sampler(model, self.schedule, seed=1)
        expected = values(sampler.run(4))
        del model
        gc.collect()
        self.assertEqual(values(sampler.run(4)), expected)
        sampler.close()


def broken_model(x_t, t):
    raise LookupError("no weights here")


class CallbackModelSamplingTest(unittest.TestCase):
    def test_zero_noise_model(self):
        calls = []

        def zero(x_t, t):
            calls.append(int(t[0]))
            return array.array("f", bytes(len(values(x_t)) * 4))

        with diffuse.Schedule("linear", 10) as schedule, \
                diffuse.Model.callback(3, zero) as model, \
                diffuse.Sampler(model, schedule) as sampler:
            samples = sampler.run(4)
        self.assertEqual(calls, list(range(9, -1, -1)))
        self.assertEqual(len(values(samples)), 12)

    def test_exception_in_model_is_re_raised_from_run(self):
        with diffuse.Schedule("linear", 10) as schedule:
            sampler = diffuse.Sampler(diffuse.Model.callback(2, broken_model), schedule)
            gc.collect()  # the Python model object is gone; its callback must not be
            try:
                sampler.run(2)
            except LookupError as error:
                frames = traceback.extract_tb(error.__traceback__)
            else:
                self.fail("the model's exception was not re-raised")
            self.assertEqual(frames[-1].name, "broken_model")
            sampler.close()


if __name__ == "__main__":
    unittest.main()
