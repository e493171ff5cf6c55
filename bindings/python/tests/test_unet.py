"""The U-Net through the binding: its options by name, flat (n, C·H·W) rows
in and out, training steps, and labels for a class-conditional model."""

import array
import unittest

from helpers import diffuse


def small_unet(**options):
    """2×4×4 images, B = 4, two levels (the options of include/diffuse/model.h)."""
    base = dict(image_channels=2, image_height=4, image_width=4, base_channels=4, levels=2,
                groups=2, heads=2, attention_levels=2)
    base.update(options)
    return diffuse.Model(dim=32, arch="unet", **base)


class UNetTest(unittest.TestCase):
    def test_options_and_prediction(self):
        with diffuse.ModelConfig(784, arch="unet") as config:
            names = config.option_names()
            for name in ("image_height", "base_channels", "level_mult_1", "attention_levels",
                         "dropout", "classes"):
                self.assertIn(name, names)
            self.assertNotIn("hidden_width", names)
            self.assertEqual(config["base_channels"], 32)
        with small_unet() as model:
            x = array.array("f", [0.1 * (i % 7) for i in range(3 * 32)])
            out = model.predict(x, array.array("i", [0, 5, 99]))
            self.assertEqual(memoryview(out).nbytes, 4 * 3 * 32)

    def test_labels_are_checked_with_classes(self):
        with small_unet(classes=3) as model:
            x = array.array("f", [0.0] * 64)
            t = array.array("i", [1, 2])
            unconditional = model.predict(x, t)  # the null class
            with self.assertRaisesRegex(diffuse.OutOfRangeError, r"labels\[1\] = 3"):
                model.predict(x, t, labels=array.array("i", [0, 3]))
            out = model.predict(x, t, labels=array.array("i", [0, 2]))
            self.assertEqual(memoryview(out).nbytes, 4 * 64)
            self.assertNotEqual(bytes(memoryview(out)), bytes(memoryview(unconditional)))

    def test_trains(self):
        with small_unet() as model, diffuse.Schedule("cosine", 20) as schedule, \
                diffuse.Optimizer(model) as optimizer, \
                diffuse.Trainer(model, schedule, optimizer) as trainer:
            x0 = array.array("f", [0.5 * ((i % 5) - 2) for i in range(8 * 32)])
            losses = [trainer.step_batch(x0) for _ in range(3)]
            self.assertTrue(all(loss > 0.0 for loss in losses))


if __name__ == "__main__":
    unittest.main()
