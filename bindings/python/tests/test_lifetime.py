"""Handles: context managers, close(), the weakref.finalize fallback, borrowing."""

import gc
import unittest

from helpers import diffuse, small_model


class HandleTest(unittest.TestCase):
    def test_context_manager_closes(self):
        with diffuse.Schedule("linear", 10) as schedule:
            self.assertFalse(schedule.closed)
        self.assertTrue(schedule.closed)
        self.assertEqual(repr(schedule), "<diffuse.Schedule closed>")
        with self.assertRaisesRegex(diffuse.StateError, "this Schedule is closed"):
            schedule.steps
        with self.assertRaises(diffuse.StateError):
            with schedule:
                pass

    def test_close_is_idempotent(self):
        rng = diffuse.Rng()
        rng.close()
        rng.close()
        self.assertTrue(rng.closed)

    def test_garbage_collection_frees_through_finalize(self):
        rng = diffuse.Rng()
        finalizer = rng._finalizer
        self.assertTrue(finalizer.alive)
        del rng
        gc.collect()
        self.assertFalse(finalizer.alive)

    def test_borrowed_model_is_freed_after_its_sampler(self):
        schedule = diffuse.Schedule("linear", 10)
        model = small_model()
        resource = model._resource
        sampler = diffuse.Sampler(model, schedule)
        model.close()
        self.assertIsNotNone(resource.pointer)  # still used by the sampler
        sampler.run(2)
        sampler.close()
        self.assertIsNone(resource.pointer)  # freed with its last user
        schedule.close()

    def test_failed_constructor_leaves_nothing_behind(self):
        with self.assertRaises(diffuse.InvalidArgumentError):
            diffuse.Schedule("linear", 0)
        gc.collect()

    def test_keyword_options_on_every_class(self):
        with diffuse.Schedule("sigmoid", 10, sigmoid_range=3.0) as schedule, \
                small_model(hidden_width=8) as model, \
                diffuse.Optimizer(model, clip_norm=2.0) as optimizer, \
                diffuse.Trainer(model, schedule, optimizer, batch_size=4) as trainer, \
                diffuse.Sampler(model, schedule, chunk_rows=2) as sampler:
            self.assertEqual(schedule.sigmoid_range, 3.0)
            self.assertEqual(model.config["hidden_width"], 8)
            self.assertEqual(optimizer.clip_norm, 2.0)
            self.assertEqual(trainer.batch_size, 4)
            self.assertEqual(sampler.chunk_rows, 2)
            for handle in (schedule, model, optimizer, trainer, sampler):
                self.assertTrue(repr(handle).startswith("<diffuse."))


if __name__ == "__main__":
    unittest.main()
