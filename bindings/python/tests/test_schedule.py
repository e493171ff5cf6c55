"""Schedule: kinds, options, bounds, tables, forward and posterior formulas."""

import math
import unittest

from helpers import diffuse, values


class ScheduleTest(unittest.TestCase):
    def test_linear_tables_match_the_definition(self):
        with diffuse.Schedule("linear", 50) as schedule:
            betas = values(schedule.table("beta"))
            alpha_bar = values(schedule.table(diffuse.Table.ALPHA_BAR))
        self.assertEqual(len(betas), 50)
        product = 1.0
        for t in range(50):
            beta = 1e-4 + (0.02 - 1e-4) * t / 49
            product *= 1.0 - beta
            self.assertAlmostEqual(betas[t], beta, delta=1e-15)
            self.assertAlmostEqual(alpha_bar[t], product, delta=1e-12)

    def test_kind_steps_and_repr(self):
        with diffuse.Schedule(diffuse.ScheduleKind.COSINE, 20) as schedule:
            self.assertEqual(schedule.kind, diffuse.ScheduleKind.COSINE)
            self.assertEqual((schedule.steps, len(schedule)), (20, 20))
            self.assertEqual(repr(schedule), "<diffuse.Schedule cosine T=20>")

    def test_options_as_keywords_and_properties(self):
        with diffuse.Schedule("linear", 10, beta_start=0.001, beta_end=0.05) as schedule:
            self.assertEqual((schedule.beta_start, schedule.beta_end), (0.001, 0.05))
            schedule.beta_end = 0.04
            self.assertAlmostEqual(schedule.value("beta", 9), 0.04)
            self.assertEqual(schedule.options(), {"beta_start": 0.001, "beta_end": 0.04,
                                                  "zero_terminal_snr": False})

    def test_moving_the_beta_range_up_in_one_call(self):
        # defaults are 1e-4 .. 0.02: the end has to move first, the binding orders it
        with diffuse.Schedule("linear", 10, beta_start=0.03, beta_end=0.05) as schedule:
            self.assertEqual((schedule.beta_start, schedule.beta_end), (0.03, 0.05))

    def test_zero_terminal_snr(self):
        with diffuse.Schedule("linear", 10, zero_terminal_snr=True) as schedule:
            self.assertIs(schedule.zero_terminal_snr, True)
            self.assertEqual(schedule.value("alpha_bar", 9), 0.0)
            self.assertEqual(schedule.value("sqrt_recip_alpha_bar", 9), math.inf)

    def test_out_of_range_option_raises_with_message_and_keeps_value(self):
        with diffuse.Schedule("linear", 10) as schedule:
            with self.assertRaises(diffuse.OutOfRangeError) as caught:
                schedule.beta_end = 2.0
            self.assertTrue(caught.exception.message)
            self.assertEqual(schedule.beta_end, 0.02)
            with self.assertRaises(diffuse.NumericError):
                schedule.beta_end = math.nan

    def test_option_of_another_kind_is_refused(self):
        with diffuse.Schedule("linear", 10) as schedule:
            with self.assertRaises(diffuse.UnsupportedError):
                schedule.max_beta = 0.5
        with self.assertRaisesRegex(TypeError, "no option 'beta'"):
            diffuse.Schedule("linear", 10, beta=0.1)

    def test_unknown_kind_name(self):
        with self.assertRaisesRegex(diffuse.InvalidArgumentError, "cosine"):
            diffuse.Schedule("cosinus", 10)

    def test_bounds(self):
        low, high = diffuse.Schedule.bounds("cosine_offset")
        self.assertEqual((low, high), (0.0, 1.0))
        self.assertEqual(diffuse.Schedule.bounds("zero_terminal_snr"), (0, 1))

    def test_custom_and_clone(self):
        betas = [0.1, 0.2, 0.3]
        with diffuse.Schedule.custom(betas) as schedule:
            self.assertEqual(schedule.kind, diffuse.ScheduleKind.CUSTOM)
            self.assertEqual(values(schedule.table("beta")), betas)
            copy = schedule.clone()
        self.assertEqual(values(copy.table("alpha")), [0.9, 0.8, 0.7])
        copy.close()
        with self.assertRaises(diffuse.OutOfRangeError):
            diffuse.Schedule.custom([0.1, 1.5])
        with self.assertRaises(TypeError):
            diffuse.Schedule.custom([0.1, "x"])

    def test_marginal_step_and_posterior_variance(self):
        with diffuse.Schedule("linear", 10) as schedule:
            alpha_bar = schedule.value("alpha_bar", 4)
            mean, variance = schedule.q_marginal(4)
            self.assertAlmostEqual(mean, math.sqrt(alpha_bar), places=15)
            self.assertAlmostEqual(variance, 1.0 - alpha_bar, places=15)
            mean, variance = schedule.q_step(4)
            self.assertAlmostEqual(variance, schedule.value("beta", 4), places=15)
            variance, log_variance = schedule.posterior_variance(4)
            self.assertAlmostEqual(variance, schedule.value("posterior_variance", 4))
            self.assertAlmostEqual(log_variance, math.log(variance))
            with self.assertRaises(diffuse.OutOfRangeError):
                schedule.q_step(10)


class ConversionTest(unittest.TestCase):
    """The posterior conversions invert each other (float32 round trips)."""

    t = [0, 3, 9]
    x0 = [0.5, -0.25, 1.0, 2.0, -1.5, 0.75]
    eps = [0.1, -0.3, 0.7, -1.2, 0.4, 0.0]

    def assertClose(self, got, expected, tolerance=1e-4):
        for a, b in zip(values(got), expected):
            self.assertAlmostEqual(a, b, delta=tolerance)

    def test_round_trips(self):
        with diffuse.Schedule("linear", 10) as s:
            xt = s.q_sample(self.x0, self.t, self.eps)
            self.assertClose(s.predict_x0_from_eps(xt, self.t, self.eps), self.x0, 2e-3)
            self.assertClose(s.predict_eps_from_x0(xt, self.t, self.x0), self.eps, 2e-3)
            v = s.velocity(self.x0, self.t, self.eps)
            self.assertClose(s.predict_x0_from_v(xt, self.t, v), self.x0)
            self.assertClose(s.predict_eps_from_v(xt, self.t, v), self.eps)

    def test_model_mean_equals_posterior_mean_with_true_noise(self):
        with diffuse.Schedule("linear", 10) as s:
            xt = s.q_sample(self.x0, self.t, self.eps)
            expected = values(s.posterior_mean(self.x0, self.t, xt))
            self.assertClose(s.model_mean_from_eps(xt, self.t, self.eps), expected)

    def test_q_sample_rng_matches_explicit_noise(self):
        with diffuse.Schedule("linear", 10) as s, diffuse.Rng(seed=4) as rng:
            xt, eps = s.q_sample_rng(self.x0, self.t, rng, return_eps=True)
            self.assertEqual(rng.position, 6)
            self.assertEqual(values(xt), values(s.q_sample(self.x0, self.t, eps)))
            only_xt = s.q_sample_rng(self.x0, self.t, rng)
            self.assertEqual(len(values(only_xt)), 6)

    def test_x0_from_eps_fails_at_zero_terminal_snr(self):
        with diffuse.Schedule("linear", 10, zero_terminal_snr=True) as s:
            with self.assertRaises(diffuse.NumericError) as caught:
                s.predict_x0_from_eps([0.0, 1.0], [9], [0.5, 0.5])
            self.assertTrue(caught.exception.message)

    def test_non_finite_input(self):
        with diffuse.Schedule("linear", 10) as s:
            with self.assertRaises(diffuse.NumericError):
                s.velocity([math.nan], [1], [0.0])


if __name__ == "__main__":
    unittest.main()
