"""Conditional generation: labels in training and sampling, classifier-free
guidance, classifier guidance (a Python classifier), and bad labels."""

import array
import unittest

from helpers import diffuse, numpy, small_model, values

DIM, CLASSES, N = 2, 3, 6


def gaussian_classifier(x, t, labels):
    """∇_x log p(y | x) of unit Gaussians at μ_y = (y − 1, 1 − y)."""
    xs = values(x)
    out = array.array("f")
    for i, y in enumerate(labels):
        out.extend([(y - 1.0) - xs[2 * i], (1.0 - y) - xs[2 * i + 1]])
    return out


class Fixture(unittest.TestCase):
    def setUp(self):
        self.schedule = diffuse.Schedule("linear", 100)
        self.model = small_model(DIM, classes=CLASSES)
        self.plain = small_model(DIM)

    def tearDown(self):
        for handle in (self.plain, self.model, self.schedule):
            handle.close()

    def sampler(self, model=None, **options):
        options.setdefault("steps", 5)
        return diffuse.Sampler(model or self.model, self.schedule, **options)


class SamplingTest(Fixture):
    def test_labels_as_int_list_buffer_and_numpy(self):
        with self.sampler() as sampler:
            one = values(sampler.run(N, labels=[2] * N))
            self.assertEqual(values(sampler.run(N, labels=2)), one)
            self.assertEqual(values(sampler.run(N, labels=array.array("i", [2] * N))), one)
            if numpy is not None:
                self.assertEqual(values(sampler.run(N, labels=numpy.full(N, 2, numpy.int64))),
                                 one)
            sampler.label = 2
            self.assertEqual(values(sampler.run(N)), one)
            sampler.label = -1
            self.assertNotEqual(values(sampler.run(N)), one)  # the null class

    def test_guidance_scale_one_is_plain_conditional(self):
        labels = [0, 1, 2, 0, 1, 2]
        with self.sampler() as sampler:
            plain = values(sampler.run(N, labels=labels))
            sampler.guidance_scale = 3.0
            sampler.guidance_rescale = 0.7
            guided = values(sampler.run(N, labels=labels))
            self.assertNotEqual(plain, guided)
            self.assertEqual(sampler.guidance_scale, 3.0)

    def test_guidance_t_max_limits_the_guided_steps(self):
        labels = [0, 1, 2, 0, 1, 2]
        with self.sampler(guidance_scale=3.0) as sampler:
            every_step = values(sampler.run(N, labels=labels))
            sampler.guidance_t_max = 100  # every t of a T = 100 schedule is below
            self.assertEqual(values(sampler.run(N, labels=labels)), every_step)
            sampler.guidance_t_max = 50
            self.assertNotEqual(values(sampler.run(N, labels=labels)), every_step)
            self.assertEqual(sampler.guidance_t_max, 50)
            with self.assertRaises(diffuse.OutOfRangeError):
                sampler.guidance_t_max = -1

    def test_bad_labels(self):
        with self.sampler() as sampler:
            with self.assertRaises(ValueError):
                sampler.run(N, labels=[0, 1])  # wrong length
            with self.assertRaises(TypeError):
                sampler.run(N, labels=[0.5] * N)
            with self.assertRaises(diffuse.OutOfRangeError) as caught:
                sampler.run(N, labels=[0, 1, 2, 3, 0, 0])
            self.assertIn("labels[3] = 3", str(caught.exception))
            with self.assertRaises(diffuse.OutOfRangeError):
                sampler.run(N, labels=-1)

    def test_guidance_on_an_unconditional_model(self):
        with self.sampler(self.plain, guidance_scale=2.0) as sampler:
            with self.assertRaises(diffuse.UnsupportedError):
                sampler.run(N, labels=0)

    def test_classifier_guidance(self):
        seen = []

        def classifier(x, t, labels):
            seen.append((len(values(t)), values(labels)))
            return gaussian_classifier(x, t, labels)

        with self.sampler(self.plain, classifier_scale=2.0) as sampler:
            sampler.classifier = classifier
            guided = values(sampler.run(N, labels=[0, 2, 1, 0, 2, 1]))
            self.assertEqual(len(seen), 5)  # once per step
            self.assertEqual(seen[0], (N, [0, 2, 1, 0, 2, 1]))
            sampler.classifier = None
            with self.assertRaises(diffuse.UnsupportedError):
                sampler.run(N, labels=0)  # labels nobody reads
            self.assertNotEqual(values(sampler.run(N)), guided)

    def test_failing_and_nan_classifiers_leave_out_untouched(self):
        out = array.array("f", [7.0] * (N * DIM))

        def failing(x, t, labels):
            raise KeyError("no classifier today")

        def nan(x, t, labels):
            g = gaussian_classifier(x, t, labels)
            g[0] = float("nan")
            return g

        with self.sampler(self.plain) as sampler:
            sampler.classifier = failing
            with self.assertRaises(KeyError):
                sampler.run(N, out=out, labels=1)
            self.assertEqual(list(out), [7.0] * (N * DIM))
            sampler.classifier = nan
            with self.assertRaises(diffuse.NumericError):
                sampler.run(N, out=out, labels=1)
            self.assertEqual(list(out), [7.0] * (N * DIM))
            sampler.classifier = lambda x, t, labels: [0.0]  # wrong size
            with self.assertRaises(ValueError):
                sampler.run(N, out=out, labels=1)


class TrainingTest(Fixture):
    def test_labelled_sources_and_dropout(self):
        points, classes = diffuse.toy2d.sample("8gaussians", 64, seed=1, labels=True)
        self.assertEqual(diffuse.toy2d.classes("8gaussians"), 8)
        labels = [int(c) % CLASSES for c in values(classes)]
        optimizer = diffuse.Optimizer(self.model)
        with diffuse.Trainer(self.model, self.schedule, optimizer, batch_size=16,
                             data=(points, labels), label_dropout=0.2) as trainer:
            self.assertEqual(trainer.label_dropout, 0.2)
            trainer.train(3)
            trainer.step_batch(points, labels=labels)
            trainer.data = diffuse.toy2d.Stream("two_moons", seed=2, labels=True)
            trainer.step()
            with self.assertRaises(diffuse.OutOfRangeError):
                trainer.step_batch(points, labels=[5] * 64)
            with self.assertRaises(ValueError):
                trainer.step_batch(points, labels=[0] * 3)
            trainer.batch_size = 64
            trainer.data = lambda capacity: (points, labels[:-1] + [9])
            with self.assertRaises(diffuse.OutOfRangeError):
                trainer.step()
        optimizer.close()

    def test_dropout_needs_classes(self):
        optimizer = diffuse.Optimizer(self.plain)
        with diffuse.Trainer(self.plain, self.schedule, optimizer) as trainer:
            with self.assertRaises(diffuse.UnsupportedError):
                trainer.label_dropout = 0.1
            with self.assertRaises(diffuse.OutOfRangeError):
                trainer.label_dropout = 2.0
        optimizer.close()


if __name__ == "__main__":
    unittest.main()
