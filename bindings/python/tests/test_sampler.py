"""Sampler: shapes, determinism by seed, options, progress, callback models."""

import array
import gc
import math
import traceback
import unittest

from helpers import diffuse, floats, numpy, small_model, values


class SamplerCase(unittest.TestCase):
    """A small model and a 50-step schedule for each test."""

    def setUp(self):
        self.schedule = diffuse.Schedule("linear", 50)
        self.model = small_model(2)

    def tearDown(self):
        self.model.close()
        self.schedule.close()


class SamplerTest(SamplerCase):
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


class MethodsAndStepTest(SamplerCase):
    """DDIM, DPM-Solver++, spacing, the timestep list and the step API."""

    def test_every_method_and_spacing_runs(self):
        for method in ("ddpm", "ddim", "dpmpp_2m"):
            for spacing in ("leading", "trailing", "linspace"):
                with diffuse.Sampler(self.model, self.schedule, method=method, steps=7,
                                     spacing=spacing, eta=0.5, seed=2) as sampler:
                    self.assertEqual(len(sampler), 7)
                    first = values(sampler.run(5))
                    self.assertEqual(values(sampler.run(5)), first)
                    self.assertTrue(all(math.isfinite(v) for v in first))

    def test_options(self):
        with diffuse.Sampler(self.model, self.schedule, method="ddim", eta=1.0, steps=10,
                             spacing=diffuse.Spacing.TRAILING, final_alpha_one=False,
                             threshold_percentile=0.95, threshold_max=2.0) as sampler:
            self.assertEqual(sampler.method, diffuse.SampleMethod.DDIM)
            self.assertEqual(sampler.spacing, diffuse.Spacing.TRAILING)
            self.assertEqual((sampler.eta, sampler.steps, sampler.threshold_max), (1.0, 10, 2.0))
            self.assertIs(sampler.final_alpha_one, False)
            self.assertEqual(list(sampler), [49, 44, 39, 34, 29, 24, 19, 14, 9, 4])
            with self.assertRaises(diffuse.OutOfRangeError):
                sampler.eta = 1.5
            with self.assertRaises(diffuse.OutOfRangeError):
                sampler.steps = 51
            sampler.clip_x0 = 1.0  # with thresholding: refused when used
            with self.assertRaises(diffuse.InvalidArgumentError):
                sampler.run(2)

    def test_timesteps_list(self):
        with diffuse.Sampler(self.model, self.schedule) as sampler:
            self.assertEqual(list(sampler), list(range(49, -1, -1)))
            sampler.timesteps = [40, 20, 7]
            self.assertEqual([int(t) for t in sampler.timesteps], [40, 20, 7])
            for bad, words in (([7, 20], "strictly decrease"), ([9, 9], "duplicates"),
                               ([50], "outside"), ([], "empty")):
                with self.assertRaisesRegex(diffuse.InvalidArgumentError, words):
                    sampler.timesteps = bad
            self.assertEqual(list(sampler), [40, 20, 7])
            sampler.timesteps = None
            self.assertEqual(len(sampler), 50)

    def test_step_loop_is_the_run(self):
        for method in ("ddpm", "ddim", "dpmpp_2m"):
            with diffuse.Sampler(self.model, self.schedule, method=method, steps=8, eta=0.3,
                                 seed=5) as sampler:
                x = sampler.initial_noise(6)
                for t in sampler:
                    x = sampler.step(self.model.predict(x, t), t, x)
                self.assertEqual(values(x), values(sampler.run(6)), method)

    def test_step_in_place_and_x0(self):
        with diffuse.Sampler(self.model, self.schedule, clip_x0=0.5, steps=5) as sampler:
            x = sampler.initial_noise(3)
            t = sampler.timesteps[0]
            output = self.model.predict(x, t)
            fresh, x0 = sampler.step(output, t, x, return_x0=True)
            self.assertTrue(all(abs(v) <= 0.5 for v in values(x0)))
            self.assertIs(sampler.step(output, t, x, out=x), x)
            self.assertEqual(values(x), values(fresh))
            with self.assertRaisesRegex(diffuse.InvalidArgumentError, "not in the"):
                sampler.step(output, 3, x)
            with self.assertRaisesRegex(ValueError, "multiple of 2 values"):
                sampler.step([0.0] * 3, t, [0.0] * 3)

    def test_standalone_with_an_outside_network(self):
        # a network "run elsewhere": the exact eps of N(1, 0.25) in plain Python
        with diffuse.Schedule("linear", 1000) as schedule:
            alpha_bar = schedule.table("alpha_bar")
            sampler = diffuse.Sampler.standalone(schedule, 1, "epsilon", method="dpmpp_2m",
                                                 steps=20, spacing="trailing", seed=1)
            with self.assertRaises(diffuse.StateError):
                sampler.run(2)
            x = sampler.initial_noise(4000)
            for t in sampler:
                a = alpha_bar[t]
                var = a * 0.25 + 1 - a
                eps = [math.sqrt(1 - a) * (v - math.sqrt(a)) / var for v in values(x)]
                x = sampler.step(floats(eps), t, x)
            samples = values(x)
            mean = sum(samples) / len(samples)
            std = math.sqrt(sum((v - mean) ** 2 for v in samples) / len(samples))
            self.assertAlmostEqual(mean, 1.0, delta=0.05)
            self.assertAlmostEqual(std, 0.5, delta=0.05)
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
