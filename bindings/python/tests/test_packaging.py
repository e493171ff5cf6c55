"""The package's metadata: distribution "libdiffuse" (import name diffuse),
a version equal to diffuse.__version__, summary, readme, classifiers, and
py.typed in the wheel, built by the in-tree backend."""

import importlib.util
import os
import tempfile
import unittest
import zipfile

from helpers import BINDING, diffuse

BACKEND = os.path.join(BINDING, "build_backend", "diffuse_build.py")


def load_backend():
    spec = importlib.util.spec_from_file_location("diffuse_build", BACKEND)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@unittest.skipUnless(os.path.exists(BACKEND), "the build backend is not in this tree")
class WheelTest(unittest.TestCase):
    def test_wheel_metadata_and_contents(self):
        backend = load_backend()
        with tempfile.TemporaryDirectory() as directory:
            name = backend.build_wheel(directory)
            self.assertEqual(name, "libdiffuse-%s-py3-none-any.whl" % diffuse.__version__)
            with zipfile.ZipFile(os.path.join(directory, name)) as wheel:
                files = wheel.namelist()
                info = "libdiffuse-%s.dist-info/" % diffuse.__version__
                metadata = wheel.read(info + "METADATA").decode()
        self.assertIn("diffuse/__init__.py", files)
        self.assertIn("diffuse/py.typed", files)
        self.assertIn(info + "RECORD", files)
        head, _, body = metadata.partition("\n\n")
        fields = [line.split(": ", 1) for line in head.splitlines()]
        self.assertIn(["Name", "libdiffuse"], fields)
        self.assertIn(["Version", diffuse.__version__], fields)
        self.assertIn(["Description-Content-Type", "text/markdown"], fields)
        self.assertIn(["Classifier", "License :: OSI Approved :: MIT License"], fields)
        self.assertTrue(any(key == "Summary" and value for key, value in fields))
        self.assertTrue(body.startswith("# "), body[:40])


if __name__ == "__main__":
    unittest.main()
