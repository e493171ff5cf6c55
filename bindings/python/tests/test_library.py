"""Loading the library, version checks, declarations, errors and statuses."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from helpers import BINDING, diffuse

from diffuse import _declarations, _library


class VersionTest(unittest.TestCase):
    def test_library_version_matches_binding_major(self):
        number = diffuse.version_number()
        self.assertEqual(number // 10000, diffuse.WRAPPED_VERSION[0])
        self.assertEqual(diffuse.version(), "%d.%d.%d" % _library.version_tuple(number))
        self.assertEqual(diffuse.LIBRARY_VERSION, _library.version_tuple(number))

    def test_package_version_is_the_wrapped_version(self):
        self.assertEqual(diffuse.__version__, "%d.%d.%d" % diffuse.WRAPPED_VERSION)
        pyproject = os.path.join(BINDING, "pyproject.toml")
        if os.path.exists(pyproject):
            with open(pyproject, encoding="utf-8") as stream:
                self.assertIn('\nversion = "%s"\n' % diffuse.__version__, stream.read())

    def test_other_major_version_is_refused_with_a_clear_message(self):
        major = diffuse.WRAPPED_VERSION[0] + 1
        with self.assertRaises(diffuse.LibraryVersionError) as caught:
            _library.check_version(major * 10000 + 203, "/opt/libdiffuse.so.%d" % major)
        message = str(caught.exception)
        self.assertIn("%d.2.3" % major, message)
        self.assertIn("/opt/libdiffuse.so.%d" % major, message)
        self.assertIn("DIFFUSE_LIBRARY", message)
        self.assertIsInstance(caught.exception, ImportError)

    def test_same_series_other_release_is_accepted(self):
        major, minor = diffuse.WRAPPED_VERSION[:2]
        self.assertEqual(_library.check_version(major * 10000 + minor * 100 + 7, "x"),
                         (major, minor, 7))

    def test_before_1_0_another_minor_is_refused(self):
        major, minor = diffuse.WRAPPED_VERSION[:2]
        if major > 0:
            self.skipTest("from 1.0 on minor versions share the ABI")
        with self.assertRaises(diffuse.LibraryVersionError) as caught:
            _library.check_version((minor + 1) * 100, "/opt/libdiffuse.so.0.%d" % (minor + 1))
        self.assertIn("supports only version 0.%d.x" % minor, str(caught.exception))

    @unittest.skipUnless(shutil.which("cc"), "needs a C compiler")
    def test_import_refuses_a_library_of_another_major_version(self):
        major = diffuse.WRAPPED_VERSION[0] + 1
        with tempfile.TemporaryDirectory() as directory:
            source = os.path.join(directory, "fake.c")
            library = os.path.join(directory, "libdiffuse.so.%d" % major)
            with open(source, "w") as stream:
                stream.write("unsigned diffuse_version_number(void) { return %du; }\n"
                             % (major * 10000))
            subprocess.run(["cc", "-shared", "-fPIC", "-o", library, source], check=True)
            result = self._import_with(library)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("LibraryVersionError", result.stderr)
        self.assertIn("major version", result.stderr)

    def test_import_reports_a_wrong_library_path(self):
        result = self._import_with("/nonexistent/libdiffuse.so")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("LibraryNotFoundError", result.stderr)
        self.assertIn("DIFFUSE_LIBRARY=/nonexistent/libdiffuse.so", result.stderr)

    def test_directory_in_environment_variable_finds_the_library(self):
        directory = os.path.dirname(diffuse.LIBRARY_PATH)
        result = self._import_with(directory, "print(diffuse.LIBRARY_PATH)")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(os.path.dirname(result.stdout.strip()), directory)

    def test_bundled_copy_comes_before_the_dynamic_loader(self):
        # A copy of the package with the library next to it (as a bundled
        # wheel installs it), imported from outside the checkout with the
        # library also reachable through LD_LIBRARY_PATH: the bundled one wins.
        real = os.path.realpath(diffuse.LIBRARY_PATH)
        with tempfile.TemporaryDirectory() as directory:
            package = os.path.join(directory, "diffuse")
            shutil.copytree(os.path.join(BINDING, "diffuse"), package,
                            ignore=shutil.ignore_patterns("__pycache__", "libdiffuse.so*"))
            bundled = os.path.join(package, _library._SONAME)
            shutil.copy(real, bundled)
            environment = {k: v for k, v in os.environ.items() if k != "DIFFUSE_LIBRARY"}
            environment["LD_LIBRARY_PATH"] = os.path.dirname(real)
            result = subprocess.run(
                [sys.executable, "-c", "import sys; sys.path.insert(0, %r)\nimport diffuse\n"
                 "print(diffuse.LIBRARY_PATH)" % directory],
                cwd=directory, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                universal_newlines=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), bundled)

    def _import_with(self, library, code="pass"):
        environment = dict(os.environ, DIFFUSE_LIBRARY=library)
        return subprocess.run(
            [sys.executable, "-c", "import sys; sys.path.insert(0, %r)\nimport diffuse\n%s"
             % (BINDING, code)],
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True)


class DeclarationTest(unittest.TestCase):
    def test_every_declared_function_is_bound_once_with_types_and_error_check(self):
        names = [entry[0] for entry in _declarations.DECLARATIONS]
        self.assertEqual(len(names), len(set(names)), "a function is declared twice")
        for name, result, argtypes, source in _declarations.DECLARATIONS:
            if name in diffuse._capi.MISSING:
                continue
            function = getattr(diffuse._capi.library, name)
            self.assertEqual(tuple(function.argtypes), tuple(argtypes), name)
            self.assertIs(function.restype, _declarations.RESULT_TYPES[result], name)
            self.assertIsNotNone(function.errcheck, name)
            if source is not None:
                self.assertTrue(source[0] in _declarations.DECLARED_NAMES, name)

    def test_nothing_is_missing_from_the_library(self):
        self.assertEqual(diffuse._capi.MISSING, [],
                         "the library lacks functions the binding declares")


class ErrorTest(unittest.TestCase):
    def test_status_texts(self):
        self.assertEqual(diffuse.status_name(diffuse.Status.IO), "DIFFUSE_ERROR_IO")
        self.assertEqual(diffuse.status_string(0), "success")
        self.assertTrue(diffuse.status_string(999))  # "unknown status"

    def test_constructor_failure_carries_the_thread_message(self):
        with self.assertRaises(diffuse.InvalidArgumentError) as caught:
            diffuse.Schedule("linear", 0)
        error = caught.exception
        self.assertEqual(error.status, diffuse.Status.INVALID_ARGUMENT)
        self.assertEqual(error.function, "diffuse_schedule_create")
        self.assertTrue(error.message)
        self.assertIn(error.message, str(error))
        self.assertEqual(diffuse.last_error(), error.message)
        self.assertIsInstance(error, ValueError)
        self.assertIsInstance(error, diffuse.DiffuseError)

    def test_handle_failure_carries_the_handle_message(self):
        schedule = diffuse.Schedule("linear", 10)
        with self.assertRaises(diffuse.OutOfRangeError) as caught:
            schedule.value("beta", 10)
        self.assertEqual(caught.exception.message,
                         diffuse._capi.C.diffuse_schedule_last_error(schedule._h))
        self.assertIn("diffuse_schedule_value", str(caught.exception))

    def test_negative_value_for_an_unsigned_argument_is_refused_not_wrapped(self):
        with self.assertRaises(diffuse.OutOfRangeError) as caught:
            diffuse.Rng(seed=-1)
        self.assertIn("uint64", str(caught.exception))
        with self.assertRaises(diffuse.OutOfRangeError):
            diffuse.Schedule("linear", 2 ** 64)

    def test_error_subclasses_follow_the_status(self):
        pairs = {1: diffuse.InvalidArgumentError, 2: diffuse.OutOfRangeError,
                 3: diffuse.NoMemoryError, 4: diffuse.StateError, 5: diffuse.NumericError,
                 6: diffuse.DiffuseIOError, 7: diffuse.FormatError, 8: diffuse.CallbackError,
                 9: diffuse.CancelledError, 10: diffuse.MismatchError,
                 11: diffuse.UnsupportedError}
        for code, cls in pairs.items():
            error = diffuse._errors.error_for_status(code, "text", "f")
            self.assertIs(type(error), cls)
            self.assertEqual(error.message, "text")
        self.assertIs(type(diffuse._errors.error_for_status(77, "x")), diffuse.DiffuseError)
        self.assertIsInstance(diffuse._errors.error_for_status(6, "x"), OSError)


if __name__ == "__main__":
    unittest.main()
