"""Trainer: data sources, callback exceptions, progress, a short real run."""

import array
import gc
import traceback
import unittest

from helpers import diffuse, numpy, small_model, values

DIM = 2


def data_set(rows, seed=1):
    return diffuse.toy2d.sample("two_moons", rows, seed=seed)


class Fixture(unittest.TestCase):
    def setUp(self):
        self.schedule = diffuse.Schedule("linear", 100)
        self.model = small_model(DIM)
        self.optimizer = diffuse.Optimizer(self.model, learning_rate=3e-3)

    def tearDown(self):
        for handle in (self.optimizer, self.model, self.schedule):
            handle.close()

    def trainer(self, **options):
        options.setdefault("batch_size", 8)
        return diffuse.Trainer(self.model, self.schedule, self.optimizer, **options)


class DataSourceTest(Fixture):
    def test_callable_gets_capacity_and_may_return_fewer_rows(self):
        asked = []

        def source(capacity):
            asked.append(capacity)
            return data_set(3)

        with self.trainer(data=source) as trainer:
            loss = trainer.step()
        self.assertEqual(asked, [8])
        self.assertGreater(loss, 0.0)

    def test_buffer_data_set_is_served_in_consecutive_batches(self):
        points = array.array("f", values(data_set(20)))
        with self.trainer(data=points) as trainer:
            for _ in range(6):  # epochs of 8 + 8 + 4 rows
                trainer.step()
            self.assertEqual(trainer.step_count, 6)
            self.assertIs(trainer.data, points)

    def test_list_of_batches_restarts_every_epoch(self):
        batches = [data_set(8, seed=s) for s in range(3)]
        with self.trainer(data=batches) as trainer:
            trainer.train(7)
            self.assertEqual(trainer.step_count, 7)

    def test_one_shot_generator_fails_clearly_at_its_second_epoch(self):
        generator = (data_set(8, seed=s) for s in range(2))
        with self.trainer(data=generator) as trainer:
            trainer.train(2)
            with self.assertRaisesRegex(diffuse.StateError, "can be read only once"):
                trainer.step()

    def test_callable_returning_none_twice_is_a_callback_error(self):
        with self.trainer(data=lambda capacity: None) as trainer:
            with self.assertRaises(diffuse.CallbackError) as caught:
                trainer.step()
            self.assertIn("no rows", caught.exception.message)

    def test_too_many_rows_and_wrong_width(self):
        with self.trainer(data=lambda capacity: data_set(capacity + 1)) as trainer:
            with self.assertRaisesRegex(ValueError, "more than the 8 asked for"):
                trainer.step()
        with self.trainer(data=lambda capacity: [0.0] * 3) as trainer:
            with self.assertRaisesRegex(ValueError, r"data batch must have shape \(n, 2\)"):
                trainer.step()

    def test_wrong_dtype_from_source(self):
        with self.trainer(data=lambda capacity: array.array("d", [0.0] * 4)) as trainer:
            with self.assertRaisesRegex(TypeError, "float32"):
                trainer.step()

    def test_no_source_is_a_state_error_and_none_clears_it(self):
        with self.trainer() as trainer:
            with self.assertRaises(diffuse.StateError) as caught:
                trainer.step()
            self.assertTrue(caught.exception.message)
            trainer.data = data_set(16)
            trainer.step()
            trainer.data = None
            with self.assertRaises(diffuse.StateError):
                trainer.step()

    def test_non_finite_batch_is_a_numeric_error(self):
        with self.trainer(data=lambda capacity: [float("nan"), 0.0]) as trainer:
            before = values(self.model.params)
            with self.assertRaises(diffuse.NumericError):
                trainer.step()
            self.assertEqual(values(self.model.params), before)


class SourceFailure(Exception):
    pass


def exploding_source(capacity):
    raise SourceFailure("disk on fire")


class CallbackExceptionTest(Fixture):
    def test_exception_in_callable_is_re_raised_with_its_traceback(self):
        with self.trainer(data=exploding_source) as trainer:
            for call in (trainer.step, lambda: trainer.train(5)):
                try:
                    call()
                except SourceFailure as error:
                    frames = traceback.extract_tb(error.__traceback__)
                    self.assertEqual(str(error), "disk on fire")
                else:
                    self.fail("the data source's exception was not re-raised")
                self.assertEqual(frames[-1].name, "exploding_source")
                self.assertEqual(frames[-1].line, 'raise SourceFailure("disk on fire")')
            self.assertEqual(trainer.step_count, 0)
            # the library saw a failure (-1), not an end of epoch, and kept the text
            message = diffuse._capi.C.diffuse_trainer_last_error(trainer._h)
            self.assertIn("SourceFailure: disk on fire", message)

    def test_exception_in_iterable(self):
        def batches():
            yield data_set(8)
            raise SourceFailure("second batch")

        with self.trainer(data=batches()) as trainer:
            with self.assertRaisesRegex(SourceFailure, "second batch"):
                trainer.train(3)
            self.assertEqual(trainer.step_count, 1)

    def test_keyboard_interrupt_stops_training(self):
        def interrupted(capacity):
            raise KeyboardInterrupt

        with self.trainer(data=interrupted) as trainer:
            with self.assertRaises(KeyboardInterrupt):
                trainer.train(10)

    def test_exception_in_progress_callback(self):
        def progress(step, loss, rate):
            raise SourceFailure("progress broke")

        with self.trainer(data=data_set(64)) as trainer:
            with self.assertRaisesRegex(SourceFailure, "progress broke"):
                trainer.train(4, progress=progress, interval=2)
            self.assertEqual(trainer.step_count, 2)


class TrainingTest(Fixture):
    def test_options(self):
        with self.trainer(batch_size=32, seed=9, threads=1) as trainer:
            self.assertEqual(trainer.options(),
                             {"batch_size": 32, "seed": 9, "threads": 1, "label_dropout": 0.0,
                              "min_snr_gamma": 0.0, "vlb_weight": 0.001,
                              "decoder": diffuse.Decoder.DISCRETE})
            trainer.batch_size = 16
            self.assertEqual(trainer.batch_size, 16)
            with self.assertRaises(diffuse.OutOfRangeError):
                trainer.batch_size = 0
            with self.assertRaisesRegex(TypeError, "batch_size takes an integer"):
                trainer.batch_size = 16.5
            self.assertEqual(diffuse.Trainer.bounds("batch_size"), (1, 1048576))

    def test_loss_falls(self):
        stream = diffuse.toy2d.Stream("two_moons", seed=2)
        with self.trainer(data=stream, batch_size=128, seed=1) as trainer:
            first = sum(trainer.step() for _ in range(10)) / 10
            trainer.train(300)
            last = sum(trainer.step() for _ in range(10)) / 10
            self.assertEqual(trainer.step_count, 320)
        self.assertEqual(stream.position, 320 * 128)
        self.assertLess(last, 0.8 * first)

    def test_progress_reports_and_can_stop_early(self):
        reports = []

        def progress(step, loss, rate):
            reports.append(step)
            return step >= 6

        with self.trainer(data=data_set(64)) as trainer:
            loss = trainer.train(20, progress=progress, interval=3)
            self.assertEqual(reports, [3, 6])
            self.assertEqual(trainer.step_count, 6)
            self.assertGreater(loss, 0.0)
            trainer.train(2)  # the progress callback was cleared
            self.assertEqual(reports, [3, 6])

    def test_same_seed_same_weights(self):
        results = []
        for _ in range(2):
            with small_model(DIM) as model, diffuse.Optimizer(model) as optimizer, \
                    diffuse.Trainer(model, self.schedule, optimizer, batch_size=16, seed=5,
                                    data=diffuse.toy2d.Stream("8gaussians")) as trainer:
                trainer.train(5)
                results.append(values(model.params))
        self.assertEqual(results[0], results[1])

    def test_step_batch(self):
        with self.trainer() as trainer:
            self.assertGreater(trainer.step_batch(data_set(5)), 0.0)
            with self.assertRaisesRegex(ValueError, r"x0 must have shape \(n, 2\)"):
                trainer.step_batch([0.0] * 3)
            self.assertEqual(trainer.step_count, 1)

    def test_default_optimizer_is_created(self):
        with diffuse.Trainer(self.model, self.schedule, data=data_set(16)) as trainer:
            self.assertEqual(trainer.optimizer.kind, diffuse.OptimizerKind.ADAMW)
            trainer.step()
            self.assertEqual(trainer.optimizer.step_count, 1)

    def test_callback_model_cannot_be_trained(self):
        with diffuse.Model.callback(DIM, lambda x, t: x) as model:
            with self.assertRaisesRegex(diffuse.UnsupportedError, "cannot be trained"):
                diffuse.Trainer(model, self.schedule, self.optimizer)

    @unittest.skipIf(numpy is None, "numpy absent or hidden")
    def test_numpy_data_set(self):
        points = numpy.asarray(data_set(20), dtype=numpy.float32).reshape(20, 2)
        with self.trainer(data=points) as trainer:
            trainer.train(3)


class LifetimeTest(unittest.TestCase):
    def test_trainer_keeps_borrowed_handles_alive(self):
        schedule = diffuse.Schedule("linear", 50)
        model = small_model(DIM)
        trainer = diffuse.Trainer(model, schedule, diffuse.Optimizer(model),
                                  data=diffuse.toy2d.Stream(), batch_size=8)
        del model, schedule
        gc.collect()
        trainer.train(3)
        self.assertEqual(trainer.model.dim, DIM)

    def test_closing_a_borrowed_model_defers_the_free(self):
        with diffuse.Schedule("linear", 50) as schedule:
            model = small_model(DIM)
            trainer = diffuse.Trainer(model, schedule, data=diffuse.toy2d.Stream(), batch_size=8)
            model.close()
            with self.assertRaisesRegex(diffuse.StateError, "closed"):
                model.params
            trainer.train(2)  # the C model is still alive for the trainer
            trainer.close()
            trainer.close()  # idempotent
            self.assertTrue(trainer.closed)

    def test_data_source_stays_alive_while_set(self):
        class Source:
            def __call__(self, capacity):
                return data_set(capacity)

        with diffuse.Schedule("linear", 50) as schedule, small_model(DIM) as model, \
                diffuse.Trainer(model, schedule, data=Source(), batch_size=8) as trainer:
            gc.collect()
            trainer.train(2)


if __name__ == "__main__":
    unittest.main()
