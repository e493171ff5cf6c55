"""Shapes of rows: a 2-D input must have exactly dim columns, a U-Net's
inputs may be (n, C, H, W) and its results come back so, flat buffers stay
n·dim values; strided inputs are copied, strided outputs refused."""

import array
import unittest

from helpers import diffuse, numpy, small_model, values
from test_unet import small_unet


def shaped(rows, columns, fill=0.25):
    """A float32 buffer with a 2-D shape through the buffer protocol alone."""
    flat = array.array("f", [fill] * (rows * columns))
    return memoryview(flat).cast("B").cast("f", (rows, columns))


class MlpShapeTest(unittest.TestCase):
    def setUp(self):
        self.model = small_model(16)
        self.schedule = diffuse.Schedule("linear", 1000)

    def tearDown(self):
        self.model.close()
        self.schedule.close()

    def test_wrong_columns_are_refused_everywhere(self):
        message = r"must have shape \(n, 16\) or be flat with a multiple of 16 values; " \
                  r"got shape \((256, 15|15, 256|8, 8)\)"
        with diffuse.Trainer(self.model, self.schedule) as trainer:
            for wrong in (shaped(256, 15), shaped(15, 256)):
                with self.assertRaisesRegex(ValueError, message):
                    trainer.step_batch(wrong)
            self.assertEqual(trainer.step_count, 0)
        with self.assertRaisesRegex(diffuse.MismatchError, message):
            self.model.predict(shaped(8, 8), [0, 1, 2, 3])
        with diffuse.Sampler(self.model, self.schedule) as sampler:
            with self.assertRaisesRegex(ValueError, message):
                sampler.step(shaped(8, 8), 999, shaped(8, 8))

    def test_flat_and_two_dimensional_rows_give_the_same_result(self):
        flat = array.array("f", [0.25] * 64)
        by_rows = self.model.predict(shaped(4, 16), 3)
        self.assertEqual(values(self.model.predict(flat, 3)), values(by_rows))
        if numpy is not None:
            self.assertEqual(by_rows.shape, (4, 16))

    def test_model_output_rows_must_match_x_t(self):
        with diffuse.Sampler(self.model, self.schedule) as sampler:
            with self.assertRaisesRegex(ValueError, r"model_output has 2 rows; expected 4"):
                sampler.step(shaped(2, 16), 999, shaped(4, 16))

    def test_wrongly_shaped_out_is_refused(self):
        with self.assertRaisesRegex(ValueError, r"out must have shape \(n, 16\)"):
            self.model.predict(shaped(4, 16), 3, out=shaped(8, 8))

    def test_data_batches_are_checked(self):
        with diffuse.Trainer(self.model, self.schedule, batch_size=8,
                             data=lambda capacity: shaped(16, 8)) as trainer:
            with self.assertRaisesRegex(diffuse.MismatchError, r"data batch must have shape"):
                trainer.step()
        with diffuse.Trainer(self.model, self.schedule) as trainer:
            with self.assertRaisesRegex(diffuse.MismatchError, r"data must have shape"):
                trainer.data = shaped(16, 8)


class ScheduleShapeTest(unittest.TestCase):
    def test_rows_follow_the_first_input(self):
        with diffuse.Schedule("linear", 10) as schedule:
            x0, eps = shaped(4, 2), shaped(4, 2, 0.5)
            with self.assertRaisesRegex(ValueError, r"t has 8 timesteps for the 4 rows of x0"):
                schedule.q_sample(x0, list(range(8)), eps)
            with self.assertRaisesRegex(ValueError, r"eps must have shape \(n, 2\)"):
                schedule.q_sample(x0, [1, 2, 3, 4], shaped(2, 4))
            with self.assertRaisesRegex(ValueError, r"xt has 2 rows; expected 4"):
                schedule.posterior_mean(x0, 3, shaped(2, 2))
            per_row = schedule.q_sample(x0, 3, eps)  # one int: every row
            self.assertEqual(values(per_row), values(schedule.q_sample(x0, [3] * 4, eps)))

    @unittest.skipIf(numpy is None, "numpy absent or hidden")
    def test_result_has_the_first_input_shape(self):
        with diffuse.Schedule("linear", 10) as schedule:
            x0 = numpy.full((3, 2, 2, 2), 0.5, dtype=numpy.float32)
            eps = numpy.ones((3, 8), dtype=numpy.float32)
            self.assertEqual(schedule.q_sample(x0, [1, 2, 3], eps).shape, (3, 2, 2, 2))
            self.assertEqual(schedule.predict_x0_from_eps(x0, 4, eps.ravel()).shape,
                             (3, 2, 2, 2))


class UNetShapeTest(unittest.TestCase):
    def test_images_in_and_out(self):
        with small_unet() as model, diffuse.Schedule("cosine", 1000) as schedule:
            self.assertEqual(model.sample_shape, (2, 4, 4))
            flat = array.array("f", [0.1 * (i % 7) for i in range(3 * 32)])
            images = memoryview(flat).cast("B").cast("f", (3, 2, 4, 4))
            result = model.predict(images, [0, 5, 999])
            self.assertEqual(values(result), values(model.predict(flat, [0, 5, 999])))
            rows = memoryview(flat).cast("B").cast("f", (3, 32))
            self.assertEqual(values(result), values(model.predict(rows, [0, 5, 999])))
            with self.assertRaisesRegex(ValueError, r"x_t must have shape \(n, 2, 4, 4\) or "
                                                    r"\(n, 32\) .*got shape \(3, 4, 4, 2\)"):
                model.predict(memoryview(flat).cast("B").cast("f", (3, 4, 4, 2)), 0)
            with diffuse.Sampler(model, schedule, steps=2) as sampler:
                self.assertEqual(sampler.sample_shape, (2, 4, 4))
                samples = sampler.run(2)
                noise = sampler.initial_noise(2)
                step = sampler.step(noise, sampler.timesteps[0], noise)
            with diffuse.Trainer(model, schedule) as trainer:
                self.assertGreater(trainer.step_batch(images), 0.0)
            if numpy is not None:
                for result_array in (result, samples, noise, step):
                    self.assertEqual(result_array.shape[1:], (2, 4, 4))
            else:
                self.assertEqual(len(samples), 2 * 32)

    def test_standalone_sampler_takes_a_sample_shape(self):
        with diffuse.Schedule("linear", 10) as schedule, \
                diffuse.Sampler.standalone(schedule, (1, 2, 3), steps=2) as sampler:
            self.assertEqual(sampler.sample_shape, (1, 2, 3))
            x = sampler.initial_noise(4)
            x = sampler.step(x, sampler.timesteps[0], x)
            if numpy is not None:
                self.assertEqual(x.shape, (4, 1, 2, 3))
            with self.assertRaisesRegex(ValueError, r"\(n, 1, 2, 3\) or \(n, 6\)"):
                sampler.step(shaped(6, 4), sampler.timesteps[1], shaped(6, 4))


@unittest.skipIf(numpy is None, "numpy absent or hidden")
class StridedInputTest(unittest.TestCase):
    def test_strided_inputs_are_copied(self):
        with small_model(2) as model, diffuse.Schedule("linear", 10) as schedule:
            wide = numpy.arange(24, dtype=numpy.float32).reshape(6, 4) / 10
            view = wide[:, ::2]              # (6, 2), strided
            transposed = numpy.ascontiguousarray(view.T).T
            expected = model.predict(numpy.ascontiguousarray(view), 3)
            for strided in (view, transposed):
                self.assertFalse(strided.flags["C_CONTIGUOUS"])
                numpy.testing.assert_array_equal(model.predict(strided, 3), expected)
            read_only = numpy.ascontiguousarray(view)
            read_only.setflags(write=False)
            numpy.testing.assert_array_equal(model.predict(read_only, 3), expected)
            eps = numpy.ones((6, 2), dtype=numpy.float32)
            numpy.testing.assert_array_equal(
                schedule.q_sample(view, list(range(6)), eps),
                schedule.q_sample(numpy.ascontiguousarray(view), list(range(6)), eps))
            timesteps = numpy.arange(12, dtype=numpy.int32)[::2]
            numpy.testing.assert_array_equal(model.predict(view, timesteps),
                                             model.predict(view, list(range(0, 12, 2))))
            with diffuse.Trainer(model, schedule) as trainer:
                self.assertGreater(trainer.step_batch(view), 0.0)

    def test_strided_outputs_are_refused(self):
        with small_model(2) as model:
            out = numpy.zeros((6, 4), dtype=numpy.float32)[:, ::2]
            with self.assertRaisesRegex(ValueError, "out must be C-contiguous"):
                model.predict(numpy.zeros((6, 2), dtype=numpy.float32), 3, out=out)


if __name__ == "__main__":
    unittest.main()
