"""The package's metadata: distribution "libdiffuse" (import name diffuse),
a version equal to diffuse.__version__, summary, readme, classifiers, and
py.typed in the wheel, built by the in-tree backend; the wheel without the
library (DIFFUSE_BUNDLE=0), the message when the C sources are absent, and
`pip install --no-index ./bindings/python` into a venv, which builds
libdiffuse with CMake and bundles it, so that `import diffuse` works with
DIFFUSE_LIBRARY unset."""

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zipfile
from unittest import mock

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
        with tempfile.TemporaryDirectory() as directory, \
                mock.patch.dict(os.environ, {"DIFFUSE_BUNDLE": "0"}):
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
        self.assertFalse([f for f in files if ".so" in f], "DIFFUSE_BUNDLE=0 bundles nothing")

    def test_missing_c_sources_are_a_clear_error(self):
        backend = load_backend()
        with tempfile.TemporaryDirectory() as directory, \
                mock.patch.dict(os.environ, {"DIFFUSE_SOURCE_DIR": directory}):
            os.environ.pop("DIFFUSE_BUNDLE", None)
            with self.assertRaises(backend.BuildError) as caught:
                backend.build_wheel(directory)
            self.assertEqual(os.listdir(directory), [])
        message = str(caught.exception)
        self.assertIn("C sources were not found", message)
        self.assertIn("DIFFUSE_BUNDLE=0", message)

    def test_missing_cmake_is_a_clear_error(self):
        backend = load_backend()
        with tempfile.TemporaryDirectory() as directory, \
                mock.patch.dict(os.environ, {"PATH": directory}), \
                mock.patch.object(backend, "_c_source", lambda: directory):
            os.environ.pop("DIFFUSE_BUNDLE", None)
            with self.assertRaises(backend.BuildError) as caught:
                backend.build_wheel(directory)
        self.assertIn("needs cmake, which is not on PATH", str(caught.exception))

    def test_sdist_carries_the_c_sources(self):
        backend = load_backend()
        if not os.path.exists(os.path.join(backend.ROOT, "..", "..", backend.C_SOURCE_MARKER)):
            self.skipTest("not in a source checkout")
        with tempfile.TemporaryDirectory() as directory:
            name = backend.build_sdist(directory)
            with tarfile.open(os.path.join(directory, name)) as archive:
                files = archive.getnames()
        base = name[:-len(".tar.gz")]
        for path in ("csrc/CMakeLists.txt", "csrc/" + backend.C_SOURCE_MARKER,
                     "csrc/src/libdiffuse.map", "diffuse/__init__.py", "PKG-INFO"):
            self.assertIn(base + "/" + path, files)


def _build_tools_missing():
    """Why the bundled build cannot run here, or None."""
    for tool in ("cmake", "cc"):
        if shutil.which(tool) is None:
            return "needs %s" % tool
    if importlib.util.find_spec("venv") is None or importlib.util.find_spec("ensurepip") is None:
        return "needs venv with ensurepip (python3-venv)"
    return None


@unittest.skipIf(os.environ.get("DIFFUSE_TEST_FAST", "") not in ("", "0"), "slow (a C build)")
@unittest.skipIf(os.environ.get("DIFFUSE_TEST_INSTALLED", "") not in ("", "0"),
                 "tests the checkout's backend, not an installed package")
@unittest.skipIf(os.environ.get("DIFFUSE_NO_NUMPY", "") not in ("", "0"),
                 "numpy-independent: run once, in the pass with numpy")
@unittest.skipUnless(os.path.exists(BACKEND), "the build backend is not in this tree")
class BundledInstallTest(unittest.TestCase):
    def test_pip_install_bundles_the_library(self):
        reason = _build_tools_missing()
        if reason:
            self.skipTest(reason)
        with tempfile.TemporaryDirectory() as directory:
            venv = os.path.join(directory, "venv")
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv],
                           check=True)
            python = os.path.join(venv, "bin", "python")
            environment = {k: v for k, v in os.environ.items()
                           if k not in ("DIFFUSE_LIBRARY", "DIFFUSE_BUNDLE", "PYTHONPATH",
                                        "DIFFUSE_SOURCE_DIR", "LD_LIBRARY_PATH")}
            install = subprocess.run(
                [python, "-m", "pip", "install", "--no-index", "--quiet", BINDING],
                env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                universal_newlines=True)
            self.assertEqual(install.returncode, 0, install.stdout[-4000:])
            # From outside the checkout, so that nothing but the installed
            # package (and its bundled library) can be found.
            result = subprocess.run(
                [python, "-c", "import diffuse; print(diffuse.__file__); "
                 "print(diffuse.LIBRARY_PATH); print(diffuse.Model(2).dim)"],
                cwd=directory, env=environment, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, universal_newlines=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        package, library, dim = result.stdout.split()
        self.assertTrue(package.startswith(venv), package)
        self.assertEqual(library, os.path.join(os.path.dirname(package), diffuse._library._SONAME))
        self.assertEqual(dim, "2")


if __name__ == "__main__":
    unittest.main()
