"""Rng: reproducible streams, state, errors."""

import unittest

from helpers import diffuse, values


class RngTest(unittest.TestCase):
    def test_split_draws_equal_one_draw(self):
        with diffuse.Rng(seed=11, stream=2) as whole, diffuse.Rng(seed=11, stream=2) as parts:
            expected = values(whole.normal(16))
            got = values(parts.normal(7)) + values(parts.normal(9))
        self.assertEqual(got, expected)

    def test_uniform_in_open_unit_interval(self):
        with diffuse.Rng(seed=1) as rng:
            draws = values(rng.uniform(1000))
        self.assertTrue(all(0.0 < u < 1.0 for u in draws))
        self.assertAlmostEqual(sum(draws) / len(draws), 0.5, delta=0.05)

    def test_state_and_position(self):
        with diffuse.Rng(seed=7, stream=3) as rng:
            rng.uniform(5)
            self.assertEqual(rng.state(), (7, 3, 5))
            after = values(rng.normal(4))
            rng.position = 5
            self.assertEqual(rng.position, 5)
            self.assertEqual(values(rng.normal(4)), after)
            self.assertEqual((rng.seed, rng.stream), (7, 3))
            self.assertIn("position=9", repr(rng))

    def test_different_streams_differ(self):
        with diffuse.Rng(seed=1, stream=0) as a, diffuse.Rng(seed=1, stream=1) as b:
            self.assertNotEqual(values(a.normal(4)), values(b.normal(4)))

    def test_zero_draw_is_an_error_with_the_handle_message(self):
        with diffuse.Rng() as rng:
            with self.assertRaises(diffuse.InvalidArgumentError) as caught:
                rng.normal(0)
            self.assertEqual(caught.exception.function, "diffuse_rng_normal")
            self.assertTrue(caught.exception.message)

    def test_position_overflow(self):
        with diffuse.Rng() as rng:
            rng.position = 2 ** 64 - 2
            with self.assertRaises(diffuse.OutOfRangeError):
                rng.normal(4)
            with self.assertRaises(diffuse.OutOfRangeError):
                rng.position = 2 ** 64

    def test_count_from_out_buffer(self):
        import array
        out = array.array("f", bytes(12))
        with diffuse.Rng() as rng:
            self.assertIs(rng.uniform(out=out), out)
            with self.assertRaises(TypeError):
                rng.uniform()


if __name__ == "__main__":
    unittest.main()
