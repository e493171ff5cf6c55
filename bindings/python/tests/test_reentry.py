"""Callbacks that re-enter or close their own handle: close() takes effect
when the C call in progress has returned (never under its feet), the call
stops at the next callback with StateError, and re-entering a busy handle
raises StateError (see "Callbacks and re-entry" in diffuse/common.h)."""

import array
import unittest

from helpers import diffuse, floats, small_model


def moons(rows):
    return diffuse.toy2d.sample("two_moons", rows, seed=1)


class ReentryTest(unittest.TestCase):
    def setUp(self):
        self.schedule = diffuse.Schedule("linear", 10)
        self.model = small_model()
        self.calls = 0

    def tearDown(self):
        self.model.close()
        self.schedule.close()

    def trainer(self, source):
        return diffuse.Trainer(self.model, self.schedule, data=source, batch_size=4)

    def test_trainer_closed_in_its_data_source(self):
        def source(capacity):
            self.calls += 1
            trainer.close()
            return moons(capacity)

        trainer = self.trainer(source)
        resource = trainer._resource
        with self.assertRaisesRegex(diffuse.StateError, "closed by one of its callbacks"):
            trainer.train(5)
        self.assertEqual(self.calls, 1)
        self.assertTrue(trainer.closed)
        self.assertIsNone(resource.pointer)  # freed once train() returned
        self.assertEqual(self.model.dim, 2)  # the model it borrowed is intact

    def test_trainer_closed_in_its_progress_callback(self):
        trainer = self.trainer(moons(64))
        resource = trainer._resource

        def progress(step, loss, rate):
            self.calls += 1
            trainer.close()

        with self.assertRaises(diffuse.StateError):
            trainer.train(5, progress=progress, interval=1)
        self.assertEqual(self.calls, 1)
        self.assertIsNone(resource.pointer)

    def test_trainer_reentered_from_its_data_source(self):
        def source(capacity):
            trainer.step_batch(moons(4 * capacity))  # would reallocate this batch
            return moons(capacity)

        with self.trainer(source) as trainer:
            with self.assertRaisesRegex(diffuse.StateError, "busy"):
                trainer.step()
            self.assertEqual(trainer.step_count, 0)
            trainer.data = moons(64)
            trainer.step()
            self.assertEqual(trainer.step_count, 1)

    def test_sampler_closed_in_its_progress_callback(self):
        sampler = diffuse.Sampler(self.model, self.schedule)
        resource = sampler._resource

        def progress(done, total):
            self.calls += 1
            sampler.close()

        with self.assertRaisesRegex(diffuse.StateError, "Sampler was closed"):
            sampler.run(8, progress=progress)
        self.assertEqual(self.calls, 1)
        self.assertIsNone(resource.pointer)

    def test_sampler_reentered_from_its_progress_callback(self):
        with diffuse.Sampler(self.model, self.schedule) as sampler:
            def progress(done, total):
                sampler.threads = 2  # would free the workers of the run
                return 0

            with self.assertRaisesRegex(diffuse.StateError, "busy"):
                sampler.run(8, progress=progress)
            self.assertEqual(sampler.threads, 1)  # the default, unchanged
            sampler.run(8)  # idle again: runs

    def test_callback_model_closed_in_its_predict_function(self):
        def predict(x_t, t):
            self.calls += 1
            model.close()
            return [0.0] * (len(t) * 2)

        model = diffuse.Model.callback(2, predict)
        resource = model._resource
        with self.assertRaisesRegex(diffuse.StateError, "Model was closed"):
            model.predict(floats([0.0] * 8), 3)
        self.assertEqual(self.calls, 1)
        self.assertIsNone(resource.pointer)

    def test_callback_model_closed_while_a_sampler_runs_it(self):
        def predict(x_t, t):
            self.calls += 1
            model.close()  # the sampler still holds it: nothing is freed
            return array.array("f", [0.0] * (len(t) * 2))

        model = diffuse.Model.callback(2, predict)
        resource = model._resource
        with diffuse.Sampler(model, self.schedule) as sampler:
            sampler.run(4)
            self.assertEqual(self.calls, 10)
            self.assertIsNotNone(resource.pointer)
        self.assertIsNone(resource.pointer)  # freed with its last user


if __name__ == "__main__":
    unittest.main()
