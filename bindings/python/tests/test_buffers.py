"""Arrays through the buffer protocol: types, dtype, size, contiguity, results."""

import array
import struct
import unittest

from helpers import diffuse, numpy, values


def reference_draw(n, seed=5):
    with diffuse.Rng(seed=seed) as rng:
        return values(rng.normal(n))


class ResultTypeTest(unittest.TestCase):
    def test_results_are_numpy_arrays_or_flat_float_arrays(self):
        with diffuse.Schedule("linear", 10) as schedule:
            result = schedule.q_sample([0.5] * 6, [1, 2], [0.0] * 6)
        if numpy is not None:
            self.assertIsInstance(result, numpy.ndarray)
            self.assertEqual(result.dtype, numpy.float32)
            self.assertEqual(result.shape, (2, 3))
        else:
            self.assertIsInstance(result, array.array)
            self.assertEqual(result.typecode, "f")
            self.assertEqual(len(result), 6)

    def test_numpy_flag_matches_environment(self):
        import os
        hidden = os.environ.get("DIFFUSE_NO_NUMPY", "") not in ("", "0")
        self.assertEqual(diffuse.HAVE_NUMPY, numpy is not None)
        if hidden:
            self.assertFalse(diffuse.HAVE_NUMPY)


class OutputBufferTest(unittest.TestCase):
    expected = reference_draw(8)

    def fill(self, out):
        with diffuse.Rng(seed=5) as rng:
            returned = rng.normal(8, out=out)
        self.assertIs(returned, out)
        return out

    def test_array(self):
        self.assertEqual(list(self.fill(array.array("f", bytes(32)))), self.expected)

    def test_bytearray_is_raw_native_float32(self):
        out = self.fill(bytearray(32))
        self.assertEqual(list(struct.unpack("=8f", out)), self.expected)

    def test_memoryview(self):
        backing = array.array("f", bytes(32))
        self.fill(memoryview(backing))
        self.assertEqual(list(backing), self.expected)

    def test_memoryview_of_bytearray_cast_to_float(self):
        backing = bytearray(32)
        self.fill(memoryview(backing).cast("f"))
        self.assertEqual(list(struct.unpack("=8f", backing)), self.expected)

    @unittest.skipIf(numpy is None, "numpy absent or hidden")
    def test_numpy(self):
        out = self.fill(numpy.zeros(8, dtype=numpy.float32))
        self.assertEqual(out.tolist(), self.expected)

    @unittest.skipIf(numpy is None, "numpy absent or hidden")
    def test_numpy_two_dimensional(self):
        out = self.fill(numpy.zeros((4, 2), dtype=numpy.float32))
        self.assertEqual(out.ravel().tolist(), self.expected)

    def test_wrong_dtype_is_a_clear_type_error(self):
        with diffuse.Rng() as rng:
            with self.assertRaisesRegex(TypeError, r"float32.*'d' \(float64\)"):
                rng.normal(8, out=array.array("d", bytes(64)))
            with self.assertRaisesRegex(TypeError, r"float32.*'i'"):
                rng.normal(8, out=array.array("i", bytes(32)))

    @unittest.skipIf(numpy is None, "numpy absent or hidden")
    def test_wrong_numpy_dtype_names_the_conversion(self):
        with diffuse.Rng() as rng:
            with self.assertRaisesRegex(TypeError, "numpy.asarray"):
                rng.normal(8, out=numpy.zeros(8))

    def test_wrong_size_is_a_clear_value_error(self):
        with diffuse.Rng() as rng:
            with self.assertRaisesRegex(ValueError, "must hold 8 values; got 7"):
                rng.normal(8, out=array.array("f", bytes(28)))
            with self.assertRaisesRegex(ValueError, "not a whole number of float32"):
                rng.normal(8, out=bytearray(30))

    def test_strided_view_is_refused(self):
        strided = memoryview(array.array("f", bytes(64)))[::2]
        with diffuse.Rng() as rng:
            with self.assertRaisesRegex(ValueError, "C-contiguous"):
                rng.normal(8, out=strided)

    @unittest.skipIf(numpy is None, "numpy absent or hidden")
    def test_non_contiguous_numpy_is_refused(self):
        with diffuse.Rng() as rng:
            with self.assertRaisesRegex(ValueError, "C-contiguous"):
                rng.normal(8, out=numpy.zeros((8, 2), dtype=numpy.float32)[:, 0])
            with self.assertRaisesRegex(ValueError, "C-contiguous"):
                rng.normal(8, out=numpy.zeros((2, 4), dtype=numpy.float32).T)

    def test_read_only_output_is_refused(self):
        with diffuse.Rng() as rng:
            with self.assertRaisesRegex(ValueError, "writable"):
                rng.normal(8, out=bytes(32))

    def test_not_a_buffer(self):
        with diffuse.Rng() as rng:
            with self.assertRaisesRegex(TypeError, "buffer of float32"):
                rng.normal(8, out=object())


class InputBufferTest(unittest.TestCase):
    """Inputs of every kind give the same result as a list."""

    x0 = [0.25, -1.0, 2.0, 0.5]
    eps = [1.0, 0.5, -0.5, 0.0]

    def q_sample(self, x0, eps, t=(3, 7)):
        with diffuse.Schedule("linear", 10) as schedule:
            return values(schedule.q_sample(x0, list(t), eps))

    def test_kinds_of_input(self):
        expected = self.q_sample(self.x0, self.eps)
        packed = struct.pack("=4f", *self.x0)
        kinds = [array.array("f", self.x0), bytearray(packed), bytes(packed),
                 memoryview(array.array("f", self.x0)), memoryview(bytes(packed)),
                 tuple(self.x0), [[0.25, -1.0], [2.0, 0.5]]]
        if numpy is not None:
            kinds += [numpy.array(self.x0, dtype=numpy.float32),
                      numpy.array(self.x0, dtype=numpy.float32).reshape(2, 2),
                      numpy.array(self.x0, dtype=numpy.float32).reshape(2, 2).copy(order="C")]
        for kind in kinds:
            with self.subTest(kind=type(kind).__name__):
                self.assertEqual(self.q_sample(kind, array.array("f", self.eps)), expected)

    def test_formula(self):
        with diffuse.Schedule("linear", 10) as schedule:
            mean3, _ = schedule.q_marginal(3)
            result = values(schedule.q_sample(self.x0, [3, 3], self.eps))
            sigma3 = schedule.value("sqrt_one_minus_alpha_bar", 3)
        for got, x, e in zip(result, self.x0, self.eps):
            self.assertAlmostEqual(got, mean3 * x + sigma3 * e, places=6)

    def test_wrong_input_dtype_and_size(self):
        with diffuse.Schedule("linear", 10) as schedule:
            with self.assertRaisesRegex(TypeError, "x0 must hold float32"):
                schedule.q_sample(array.array("d", self.x0), [1, 2], self.eps)
            with self.assertRaisesRegex(ValueError,
                                        r"eps must have shape \(n, 2\) or be flat .*got 3 values"):
                schedule.q_sample(self.x0, [1, 2], self.eps[:3])
            with self.assertRaisesRegex(ValueError, "not a whole number of rows"):
                schedule.q_sample(self.x0, [1, 2, 3], self.eps)
            with self.assertRaisesRegex(ValueError, "rows of different lengths"):
                schedule.q_sample([[1.0, 2.0], [3.0]], [1, 2], self.eps[:3])

    def test_timesteps_as_int_sequence_buffer_or_single_int(self):
        expected = self.q_sample(self.x0, self.eps, t=(5, 5))
        kinds = [5, (5, 5), array.array("i", [5, 5]), array.array("q", [5, 5])]
        if numpy is not None:
            kinds += [numpy.array([5, 5]), numpy.array([5, 5], dtype=numpy.int32),
                      numpy.int64(5)]
        for kind in kinds:
            with self.subTest(kind=repr(kind)):
                with diffuse.Schedule("linear", 10) as schedule:
                    rows = [[0.25, -1.0], [2.0, 0.5]]
                    self.assertEqual(values(schedule.q_sample(rows, kind, self.eps)), expected)

    def test_bad_timesteps(self):
        with diffuse.Schedule("linear", 10) as schedule:
            with self.assertRaisesRegex(TypeError, "t: timesteps must be integers"):
                schedule.q_sample(self.x0, [1.5, 2.0], self.eps)
            with self.assertRaises(diffuse.OutOfRangeError) as caught:
                schedule.q_sample(self.x0, [1, 10], self.eps)
            self.assertTrue(caught.exception.message)
            with self.assertRaises(OverflowError):
                schedule.q_sample(self.x0, [1, 2 ** 40], self.eps)

    def test_in_place_output(self):
        x = array.array("f", self.x0)
        with diffuse.Schedule("linear", 10) as schedule:
            expected = values(schedule.q_sample(x, [3, 7], self.eps))
            returned = schedule.q_sample(x, [3, 7], self.eps, out=x)
        self.assertIs(returned, x)
        self.assertEqual(list(x), expected)

    def test_input_buffer_is_not_modified(self):
        x = array.array("f", self.x0)
        self.q_sample(x, self.eps)
        self.assertEqual(list(x), self.x0)


if __name__ == "__main__":
    unittest.main()
