"""examples/python/toy2d.py runs and writes a valid PNG."""

import os
import subprocess
import sys
import tempfile
import unittest

from helpers import BINDING, REPOSITORY
from test_toy2d_metrics_plot import read_png

EXAMPLE = os.path.join(REPOSITORY, "examples", "python", "toy2d.py")


@unittest.skipUnless(os.path.exists(EXAMPLE), "the example is not in this tree")
@unittest.skipIf(os.environ.get("DIFFUSE_TEST_FAST", "") not in ("", "0"),
                 "fast mode (DIFFUSE_TEST_FAST): the example's run is slow")
class ExampleTest(unittest.TestCase):
    def test_short_run_writes_the_plot(self):
        environment = dict(os.environ)
        if environment.get("DIFFUSE_TEST_INSTALLED", "") in ("", "0"):
            environment["PYTHONPATH"] = os.pathsep.join(
                [BINDING] + [p for p in [environment.get("PYTHONPATH")] if p])
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "toy2d.png")
            result = subprocess.run([sys.executable, EXAMPLE, "100", path], env=environment,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True, timeout=120)
            self.assertEqual(result.returncode, 0, result.stderr)
            width, height, _ = read_png(path)
        self.assertIn("step    100/100", result.stdout)
        self.assertIn("energy distance", result.stdout)
        self.assertEqual((width, height), (10 + 2 * 330, 340))


if __name__ == "__main__":
    unittest.main()
