"""examples/python/toy2d.py and classifier_guidance.py run and write valid PNGs."""

import os
import subprocess
import sys
import tempfile
import unittest

from helpers import BINDING, REPOSITORY, numpy
from test_toy2d_metrics_plot import read_png

EXAMPLE = os.path.join(REPOSITORY, "examples", "python", "toy2d.py")
GUIDANCE = os.path.join(REPOSITORY, "examples", "python", "classifier_guidance.py")


def _has_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _environment():
    environment = dict(os.environ)
    if environment.get("DIFFUSE_TEST_INSTALLED", "") in ("", "0"):
        environment["PYTHONPATH"] = os.pathsep.join(
            [BINDING] + [p for p in [environment.get("PYTHONPATH")] if p])
    return environment


@unittest.skipUnless(os.path.exists(EXAMPLE), "the example is not in this tree")
@unittest.skipIf(os.environ.get("DIFFUSE_TEST_FAST", "") not in ("", "0"),
                 "fast mode (DIFFUSE_TEST_FAST): the example's run is slow")
class ExampleTest(unittest.TestCase):
    def test_short_run_writes_the_plot(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "toy2d.png")
            result = subprocess.run([sys.executable, EXAMPLE, "100", path], env=_environment(),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True, timeout=120)
            self.assertEqual(result.returncode, 0, result.stderr)
            width, height, _ = read_png(path)
        self.assertIn("step    100/100", result.stdout)
        self.assertIn("energy distance", result.stdout)
        self.assertEqual((width, height), (10 + 2 * 330, 340))



@unittest.skipUnless(os.path.exists(GUIDANCE) and _has_torch() and numpy is not None,
                     "needs the example, torch and numpy")
class ClassifierGuidanceExampleTest(unittest.TestCase):
    def test_guidance_moves_samples_to_the_requested_mode(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "guided.png")
            result = subprocess.run([sys.executable, GUIDANCE, "200", path],
                                    env=_environment(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, universal_newlines=True,
                                    timeout=600)
            self.assertEqual(result.returncode, 0, result.stderr)
            read_png(path)
        rows = [line.split() for line in result.stdout.splitlines()
                if line.strip().endswith("%") and len(line.split()) == 2]
        hits = {float(s): float(p.rstrip("%")) for s, p in rows}
        self.assertLess(hits[0.0], 30.0)  # unguided: about 1 in 8
        self.assertGreater(hits[3.0], 90.0)


if __name__ == "__main__":
    unittest.main()
