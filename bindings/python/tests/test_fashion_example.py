"""examples/python/fashion.py against the C program examples/fashion: the
same tiny configuration (a base-8 U-Net, 4 steps, as
examples/fashion/test_fashion.sh) through both gives byte-identical
checkpoints, grids and .npy files, unconditional and with --classes, and
the Python twin stopped and resumed ends where the C program's whole run
does. Skipped without Debian's dataset-fashion-mnist, numpy, or the built C
example (DIFFUSE_FASHION_BINARY, else examples/fashion next to the library
under test)."""

import filecmp
import os
import subprocess
import sys
import tempfile
import unittest

from helpers import REPOSITORY, diffuse, numpy
from test_example import _environment

EXAMPLE = os.path.join(REPOSITORY, "examples", "python", "fashion.py")
DATA = "/usr/share/datasets/fashion-mnist"
C_PROGRAM = os.environ.get("DIFFUSE_FASHION_BINARY") or os.path.join(
    os.path.dirname(diffuse.LIBRARY_PATH or ""), "examples", "fashion")
TINY = ("--steps 4 --batch 4 --base 8 --levels 2 --res-blocks 1 --attention 2 --heads 2 "
        "--groups 4 --threads 2 --log-every 2 --checkpoint-every 0 --grid-every 0 "
        "--grid-columns 2 --sample-steps 2").split()


@unittest.skipUnless(os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")),
                     "no %s (Debian's dataset-fashion-mnist)" % DATA)
@unittest.skipUnless(os.access(C_PROGRAM, os.X_OK), "no C example at %s" % C_PROGRAM)
@unittest.skipIf(numpy is None, "the example needs numpy")
@unittest.skipIf(os.environ.get("DIFFUSE_TEST_FAST", "") not in ("", "0"),
                 "fast mode (DIFFUSE_TEST_FAST): the example's runs are slow")
class FashionTwinTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp()

    def tearDown(self):
        for name in os.listdir(self.directory):
            os.remove(os.path.join(self.directory, name))
        os.rmdir(self.directory)

    def run_program(self, command, *options):
        result = subprocess.run(command + TINY + list(options), cwd=self.directory,
                                env=_environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def twin(self, *options):
        return self.run_program([sys.executable, EXAMPLE], *options)

    def c(self, *options):
        return self.run_program([C_PROGRAM], *options)

    def assertSameFiles(self, *pairs):
        for first, second in pairs:
            self.assertTrue(filecmp.cmp(os.path.join(self.directory, first),
                                        os.path.join(self.directory, second), shallow=False),
                            "%s and %s differ" % (first, second))

    def test_unconditional_run_matches_the_c_program(self):
        files = "--checkpoint {0}.ckpt --grid {0}.png --samples 3 --samples-out {0}.npy"
        c_output = self.c(*files.format("c").split())
        py_output = self.twin(*files.format("py").split())
        self.assertSameFiles(("c.ckpt", "py.ckpt"), ("c.png", "py.png"), ("c.npy", "py.npy"))
        self.assertEqual(numpy.load(os.path.join(self.directory, "py.npy")).shape,
                         (3, 1, 28, 28))
        # the same output (the losses included), apart from the rates and file names
        self.assertEqual([line.split()[:4] for line in py_output.replace("py.", "c.")
                          .splitlines()], [line.split()[:4] for line in c_output.splitlines()])

    def test_class_conditional_run_and_resume_match_the_c_program(self):
        self.c("--classes", "--guidance", "2", "--checkpoint", "c.ckpt", "--grid", "c.png",
               "--samples", "12", "--samples-out", "c.npy", "--labels-out", "cl.npy")
        self.twin("--classes", "--guidance", "2", "--checkpoint", "py.ckpt", "--grid",
                  "py.png", "--samples", "12", "--samples-out", "py.npy", "--labels-out",
                  "pyl.npy")
        self.assertSameFiles(("c.ckpt", "py.ckpt"), ("c.png", "py.png"), ("c.npy", "py.npy"),
                             ("cl.npy", "pyl.npy"))
        # stopped at step 2 and resumed (the checkpoint brings the classes)
        self.twin("--classes", "--guidance", "2", "--checkpoint", "part.ckpt", "--grid",
                  "part.png", "--stop-at", "2")
        output = self.twin("--guidance", "2", "--checkpoint", "part.ckpt", "--grid", "part.png",
                           "--resume", "part.ckpt")
        self.assertIn("resumed part.ckpt at step 2", output)
        self.assertSameFiles(("c.ckpt", "part.ckpt"), ("c.png", "part.png"))

    def test_bad_option_is_refused_as_by_the_c_program(self):
        for command in ([sys.executable, EXAMPLE], [C_PROGRAM]):
            result = subprocess.run(command + ["--levels", "1.5"], cwd=self.directory,
                                    env=_environment(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, universal_newlines=True,
                                    timeout=60)
            self.assertEqual(result.returncode, 1)
            self.assertIn("fashion: bad or incomplete option --levels 1.5", result.stderr)


if __name__ == "__main__":
    unittest.main()
