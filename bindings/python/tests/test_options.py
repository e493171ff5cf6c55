"""Option tables come from the library's introspection: every option the C
API lists is a keyword argument and a property, its default is what a new
handle holds, and its bounds are the C bounds."""

import unittest

from helpers import diffuse, small_model
from diffuse import _options


class OptionTableTest(unittest.TestCase):
    def setUp(self):
        self.schedule = diffuse.Schedule("linear", 10)
        self.model = small_model(2)
        self.optimizer = diffuse.Optimizer(self.model, "adam")
        self.trainer = diffuse.Trainer(self.model, self.schedule, diffuse.Optimizer(self.model))
        self.sampler = diffuse.Sampler(self.model, self.schedule)

    def tearDown(self):
        for handle in (self.sampler, self.trainer, self.optimizer, self.model, self.schedule):
            handle.close()

    def check(self, handle, prefix, kind=None):
        infos = _options.option_infos(prefix, kind)
        self.assertTrue(infos)
        for info in infos:
            name = info.name.decode()
            with self.subTest(handle=type(handle).__name__, option=name):
                self.assertIn(name, type(handle).OPTIONS)
                self.assertIsInstance(getattr(type(handle), name), property)
                self.assertEqual(float(getattr(handle, name)), info.default_value)
                self.assertEqual(type(handle).bounds(name), (info.min, info.max))

    def test_every_listed_option_is_exposed_with_its_default(self):
        self.check(self.schedule, "diffuse_schedule", diffuse.ScheduleKind.LINEAR)
        self.check(self.optimizer, "diffuse_optimizer", diffuse.OptimizerKind.ADAM)
        self.check(self.trainer, "diffuse_trainer")
        self.check(self.sampler, "diffuse_sampler")

    def test_option_enums_follow_the_library(self):
        names = _options.option_names("diffuse_sampler")
        self.assertEqual([member.name.lower() for member in diffuse.SamplerOption], list(names))
        self.assertEqual(diffuse.ScheduleOption.MAX_BETA.name, "MAX_BETA")

    def test_a_presented_name_the_library_lacks_is_an_error(self):
        with self.assertRaisesRegex(RuntimeError, "no option bogus"):
            _options.option_table("diffuse_trainer", presented={"bogus": "bool"})

    def test_model_config_options(self):
        infos = _options.option_infos("diffuse_model_config", diffuse.Architecture.MLP)
        with diffuse.ModelConfig(2) as config:
            for info in infos:
                self.assertEqual(float(config[info.name.decode()]), info.default_value)


if __name__ == "__main__":
    unittest.main()
