"""Data sources: an array is a Dataset shuffled per epoch (seeded), a
re-iterable repeats every epoch, a one-shot iterator serves one epoch and
then raises StateError; the sources' own errors are DiffuseError subclasses."""

import array
import unittest

from helpers import diffuse, small_model, values

DIM = 2


def numbered_rows(n):
    """n rows (i, -i): a row's first value names it."""
    return array.array("f", [v for i in range(n) for v in (float(i), -float(i))])


def epochs(dataset, count, capacity):
    """The row numbers a trainer would read in `count` epochs."""
    read = dataset._reader((DIM,))
    orders = []
    for _ in range(count):
        order = []
        while True:
            batch = read(capacity)
            if batch is None:
                break
            order.extend(int(v) for v in values(batch)[::DIM])
        orders.append(order)
    return orders


class DatasetTest(unittest.TestCase):
    def test_each_epoch_is_a_new_seeded_permutation(self):
        first, second, third = epochs(diffuse.Dataset(numbered_rows(10)), 3, capacity=4)
        for order in (first, second, third):
            self.assertEqual(sorted(order), list(range(10)))
        self.assertNotEqual(first, list(range(10)))
        self.assertNotEqual(first, second)
        self.assertNotEqual(second, third)
        # reproducible, the same with and without numpy (Python's random module)
        self.assertEqual(epochs(diffuse.Dataset(numbered_rows(10)), 1, capacity=3)[0], first)
        self.assertEqual(first, [2, 0, 6, 4, 9, 7, 3, 5, 8, 1])
        self.assertNotEqual(epochs(diffuse.Dataset(numbered_rows(10), seed=1), 1, 4)[0], first)

    def test_unshuffled_rows_come_in_order(self):
        orders = epochs(diffuse.Dataset(numbered_rows(5), shuffle=False), 2, capacity=2)
        self.assertEqual(orders, [[0, 1, 2, 3, 4]] * 2)

    def test_a_plain_array_is_shuffled_like_a_default_dataset(self):
        rows = numbered_rows(24)

        def trained(data):
            with small_model(DIM) as model, diffuse.Schedule("linear", 1000) as schedule, \
                    diffuse.Trainer(model, schedule, batch_size=8, data=data) as trainer:
                trainer.train(3)
                return values(model.params)

        shuffled = trained(rows)
        self.assertEqual(shuffled, trained(diffuse.Dataset(rows)))
        self.assertNotEqual(shuffled, trained(diffuse.Dataset(rows, shuffle=False)))

    def test_trainer_counts_epochs(self):
        dataset = diffuse.Dataset(numbered_rows(20))
        with small_model(DIM) as model, diffuse.Schedule("linear", 1000) as schedule, \
                diffuse.Trainer(model, schedule, batch_size=8, data=dataset) as trainer:
            trainer.train(7)  # epochs of 8 + 8 + 4 rows: the 7th step starts the third
            self.assertIs(trainer.data, dataset)
        self.assertEqual(dataset.epoch, 2)

    def test_empty_data_is_an_invalid_argument(self):
        with self.assertRaises(diffuse.InvalidArgumentError):
            diffuse.Dataset(array.array("f"))


class IterableTest(unittest.TestCase):
    def setUp(self):
        self.model = small_model(DIM)
        self.schedule = diffuse.Schedule("linear", 1000)

    def tearDown(self):
        self.model.close()
        self.schedule.close()

    def trainer(self, data):
        return diffuse.Trainer(self.model, self.schedule, batch_size=8, data=data)

    def test_a_re_iterable_repeats_every_epoch(self):
        class Batches:
            starts = 0

            def __iter__(self):
                Batches.starts += 1
                return iter([numbered_rows(8), numbered_rows(8)])

        with self.trainer(Batches()) as trainer:
            trainer.train(6)
        self.assertEqual(Batches.starts, 3)

    def test_a_generator_serves_one_epoch_then_a_state_error(self):
        with self.trainer(numbered_rows(8) for _ in range(3)) as trainer:
            trainer.train(3)
            with self.assertRaisesRegex(diffuse.StateError, "generator.*read only once"):
                trainer.step()
            self.assertEqual(trainer.step_count, 3)

    def test_an_empty_iterable_is_an_invalid_argument(self):
        with self.trainer([]) as trainer:
            with self.assertRaisesRegex(diffuse.InvalidArgumentError, "yielded no batch"):
                trainer.step()

    def test_an_oversized_batch_is_a_mismatch(self):
        with self.trainer([numbered_rows(9)]) as trainer:
            with self.assertRaisesRegex(diffuse.MismatchError, "more than the 8 asked for"):
                trainer.step()


if __name__ == "__main__":
    unittest.main()
