"""Checkpoints: model save/load and trainer save/load round trips."""

import os
import tempfile
import unittest

from helpers import diffuse, missing, small_model, values

NO_MODEL_FILES = missing("diffuse_model_save", "diffuse_model_load")
NO_TRAINER_FILES = missing("diffuse_trainer_save", "diffuse_trainer_load")


@unittest.skipIf(NO_MODEL_FILES, "the library has no checkpoints yet")
class CheckpointTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.directory.name, "model.safetensors")

    def tearDown(self):
        self.directory.cleanup()

    def test_model_round_trip(self):
        x = [[0.3, -0.2], [1.0, 0.5]]
        with diffuse.Schedule("cosine", 40) as schedule, \
                small_model(2, activation="gelu") as model:
            model.ema_params = model.params
            model.save(self.path, schedule)
            expected = values(model.predict(x, [3, 30]))
            params = values(model.params)
        loaded, loaded_schedule = diffuse.Model.load(self.path)
        with loaded, loaded_schedule:
            self.assertEqual(values(loaded.params), params)
            self.assertTrue(loaded.has_ema)
            self.assertEqual(values(loaded.predict(x, [3, 30])), expected)
            self.assertEqual(loaded.config["activation"], diffuse.Activation.GELU)
            self.assertEqual((loaded_schedule.kind, loaded_schedule.steps),
                             (diffuse.ScheduleKind.COSINE, 40))

    @unittest.skipIf(missing("diffuse_model_set_schedule"), "no model schedules yet")
    def test_a_loaded_model_refuses_another_schedule(self):
        with diffuse.Schedule("cosine", 40) as schedule, small_model(2) as model:
            model.save(self.path, schedule)
        loaded, _ = diffuse.Model.load(self.path)
        with loaded, diffuse.Schedule("linear", 100) as other:
            with self.assertRaisesRegex(diffuse.MismatchError, "cosine, T = 40"):
                diffuse.Sampler(loaded, other)
            loaded.set_schedule(other)  # the explicit override
            with diffuse.Sampler(loaded, other):
                pass

    @unittest.skipIf(NO_TRAINER_FILES, "the library has no trainer checkpoints yet")
    def test_trainer_resumes_bit_exactly(self):
        def fresh():
            schedule = diffuse.Schedule("linear", 50)
            model = small_model(2)
            optimizer = diffuse.Optimizer(model, ema_decay=0.9)
            return diffuse.Trainer(model, schedule, optimizer, batch_size=16, seed=3)

        def stream_from(step):
            return diffuse.toy2d.Stream("two_moons", seed=1, first_index=16 * step)

        with fresh() as straight:
            straight.data = stream_from(0)
            straight.train(10)
            expected = values(straight.model.params)

        with fresh() as first_half:
            first_half.data = stream_from(0)
            first_half.train(5)
            first_half.save(self.path)
        with diffuse.Trainer.load(self.path) as resumed:
            self.assertEqual(resumed.step_count, 5)
            self.assertEqual((resumed.batch_size, resumed.seed), (16, 3))
            self.assertEqual(resumed.optimizer.ema_decay, 0.9)
            resumed.data = stream_from(5)
            resumed.train(5)
            self.assertEqual(values(resumed.model.params), expected)
            self.assertEqual(resumed.schedule.steps, 50)

    @unittest.skipIf(NO_TRAINER_FILES, "the library has no trainer checkpoints yet")
    def test_model_file_is_not_a_trainer_file(self):
        with diffuse.Schedule("linear", 10) as schedule, small_model(2) as model:
            model.save(self.path, schedule)
        with self.assertRaises(diffuse.MismatchError) as caught:
            diffuse.Trainer.load(self.path)
        self.assertIn(self.path, caught.exception.message)

    def test_missing_file_is_an_io_error(self):
        with self.assertRaises(diffuse.DiffuseIOError) as caught:
            diffuse.Model.load(os.path.join(self.directory.name, "absent.safetensors"))
        self.assertTrue(caught.exception.message)
        self.assertIsInstance(caught.exception, OSError)

    def test_corrupt_file_is_a_format_error(self):
        with open(self.path, "wb") as stream:
            stream.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
        with self.assertRaises(diffuse.FormatError):
            diffuse.Model.load(self.path)
        if not NO_TRAINER_FILES:
            with self.assertRaises(diffuse.FormatError):
                diffuse.Trainer.load(self.path)

    def test_callback_model_cannot_be_saved(self):
        with diffuse.Schedule("linear", 10) as schedule, \
                diffuse.Model.callback(2, lambda x, t: x) as model:
            with self.assertRaises(diffuse.UnsupportedError):
                model.save(self.path, schedule)

    def test_path_like(self):
        import pathlib
        with diffuse.Schedule("linear", 10) as schedule, small_model(2) as model:
            model.save(pathlib.Path(self.path), schedule)
        loaded, loaded_schedule = diffuse.Model.load(pathlib.Path(self.path))
        loaded.close()
        loaded_schedule.close()


if __name__ == "__main__":
    unittest.main()
