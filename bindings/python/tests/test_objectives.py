"""Training objectives and the likelihood bound: min-SNR-γ and L_hybrid
options, a model that learns its variance (predict, learned sampling, the
step API), Model.nll with its terms."""

import math
import unittest

from helpers import diffuse, numpy

DIM = 2


def grid_points(rows):
    """Points on the 256-level grid of [-1, 1] from two moons scaled down."""
    points = diffuse.toy2d.sample("two_moons", rows, seed=3)
    points = numpy.asarray(points).ravel().tolist() if numpy else list(points)
    return [round((max(-1.0, min(1.0, p / 3.0)) + 1.0) * 127.5) / 127.5 - 1.0 for p in points]


class TrainerOptions(unittest.TestCase):
    def test_min_snr_and_hybrid_options(self):
        schedule = diffuse.Schedule("linear", 50)
        model = diffuse.Model(DIM, hidden_width=16, learn_variance=True)
        trainer = diffuse.Trainer(model, schedule, batch_size=16, min_snr_gamma=5.0,
                                  vlb_weight=0.01, decoder="continuous")
        self.assertEqual(trainer.min_snr_gamma, 5.0)
        self.assertEqual(trainer.vlb_weight, 0.01)
        self.assertIs(trainer.decoder, diffuse.Decoder.CONTINUOUS)
        self.assertEqual(diffuse.Trainer.bounds("min_snr_gamma"), (0.0, 1e6))
        with self.assertRaises(diffuse.OutOfRangeError):
            trainer.min_snr_gamma = -1.0
        loss = trainer.step_batch(grid_points(16))
        self.assertTrue(math.isfinite(loss))
        trainer.close()
        model.close()
        schedule.close()


class LearnedVariance(unittest.TestCase):
    def setUp(self):
        self.schedule = diffuse.Schedule("cosine", 40)
        self.model = diffuse.Model(DIM, hidden_width=16, prediction="v",
                                   learn_variance=True)

    def tearDown(self):
        self.model.close()
        self.schedule.close()

    def test_predict_returns_both_outputs(self):
        f, v = self.model.predict([0.1, 0.2, -0.3, 0.4], [3, 30], return_variance=True)
        self.assertEqual(len(list(numpy.asarray(f).ravel()) if numpy else f), 4)
        self.assertEqual(len(list(numpy.asarray(v).ravel()) if numpy else v), 4)
        self.assertTrue(self.model.predict([0.1, 0.2], [3]) is not None)

    def test_learned_sampling_and_the_step_api_agree(self):
        sampler = diffuse.Sampler(self.model, self.schedule, variance="learned", steps=10)
        run = sampler.run(3)
        stepper = diffuse.Sampler.standalone(self.schedule, DIM, "v", variance="learned",
                                             steps=10)
        x = stepper.initial_noise(3)
        for t in stepper:
            f, v = self.model.predict(x, t, return_variance=True)
            x = stepper.step(f, t, x, variance=v)
        self.assertEqual(list(numpy.asarray(x).ravel()) if numpy else list(x),
                         list(numpy.asarray(run).ravel()) if numpy else list(run))
        with self.assertRaises(diffuse.InvalidArgumentError):
            stepper.step(f, t, x)
        for handle in (sampler, stepper):
            handle.close()


class Likelihood(unittest.TestCase):
    def test_terms_and_per_sample_values(self):
        schedule = diffuse.Schedule("linear", 50)
        model = diffuse.Model(DIM, hidden_width=16)
        data = grid_points(5)
        mean = model.nll(data, schedule, seed=2)
        self.assertIsInstance(mean, diffuse.Nll)
        self.assertAlmostEqual(mean.total, mean.prior + mean.diffusion + mean.decoder, places=9)
        rows = model.nll(data, schedule, seed=2, per_sample=True)
        self.assertEqual(len(rows.total), 5)
        self.assertAlmostEqual(sum(rows.total) / 5, mean.total, places=9)
        continuous = model.nll(data, schedule, decoder="continuous", variance="posterior")
        self.assertTrue(math.isfinite(continuous.total))
        with self.assertRaises(diffuse.InvalidArgumentError):
            model.nll(data, schedule, variance="learned")
        model.close()
        schedule.close()


if __name__ == "__main__":
    unittest.main()
