"""Finding and loading libdiffuse, and checking its version.

Search order (the first that loads wins; a wrong DIFFUSE_LIBRARY fails loudly
instead of silently falling back to the places after it):

1. the environment variable DIFFUSE_LIBRARY, when set: a path to the shared
   library, or to a directory holding libdiffuse.so (e.g. a CMake build
   directory); it overrides everything below;
2. the bundled copy: libdiffuse.so.<ABI series> next to this module, in the
   package directory, which `pip install ./bindings/python` builds with CMake
   and installs (absent from a DIFFUSE_BUNDLE=0 wheel and from the checkout);
3. the installed library: "libdiffuse.so.<ABI series>" (libdiffuse.so.0.2;
   from 1.0 on libdiffuse.so.<MAJOR>) through the dynamic loader
   (LD_LIBRARY_PATH, the ld.so cache), then the usual install directories
   (<sys.prefix>/lib, /usr/local/lib, /usr/lib, with multiarch variants: a
   fresh `cmake --install` into /usr/local is found before `ldconfig` runs),
   then ctypes.util.find_library("diffuse");
4. a build tree: when this package is imported from a source checkout
   (bindings/python/diffuse), <checkout>/build*/libdiffuse.so, newest first.
"""

import ctypes
import ctypes.util
import glob
import os
import sys
import sysconfig

from ._version import ABI_SERIES, WRAPPED_VERSION

ENVIRONMENT_VARIABLE = "DIFFUSE_LIBRARY"
_SERIES = ".".join(str(part) for part in ABI_SERIES)
_SONAME = "libdiffuse.so." + _SERIES


class LibraryNotFoundError(ImportError):
    """libdiffuse could not be found or loaded."""


class LibraryVersionError(ImportError):
    """The loaded libdiffuse is of an ABI series this binding does not support."""


def version_tuple(number):
    """(major, minor, patch) of a DIFFUSE_VERSION_NUMBER (major*10000 + minor*100 + patch)."""
    return (number // 10000, number // 100 % 100, number % 100)


def check_version(number, path):
    """Raises LibraryVersionError unless `number` is of the ABI series this
    binding was written for (the major version, and before 1.0 the minor one
    too). Returns the version as a tuple."""
    found = version_tuple(number)
    if found[:len(ABI_SERIES)] != ABI_SERIES:
        raise LibraryVersionError(
            "libdiffuse at %s is version %d.%d.%d, but this Python binding was written "
            "for version %d.%d.%d and supports only version %s.x: the C ABI of another "
            "major version (or, before 1.0, minor version) may differ. Install the "
            "binding that matches the library, or point %s at a libdiffuse %s.x"
            % ((path,) + found + WRAPPED_VERSION + (_SERIES, ENVIRONMENT_VARIABLE, _SERIES)))
    return found


def _from_environment():
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    if not value:
        return None
    if os.path.isdir(value):
        for name in (_SONAME, "libdiffuse.so"):
            if os.path.exists(os.path.join(value, name)):
                return os.path.join(value, name)
        raise LibraryNotFoundError(
            "%s=%s is a directory without libdiffuse.so in it" % (ENVIRONMENT_VARIABLE, value))
    if not os.path.exists(value):
        raise LibraryNotFoundError(
            "%s=%s: no such file" % (ENVIRONMENT_VARIABLE, value))
    return value


def _install_directories():
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    prefixes = [sys.prefix, "/usr/local", "/usr"]
    directories = []
    for prefix in prefixes:
        for lib in ("lib", "lib64", os.path.join("lib", multiarch) if multiarch else None):
            if lib is not None:
                directories.append(os.path.join(prefix, lib))
    return directories


def _bundled_candidates():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), _SONAME)
    return [path] if os.path.exists(path) else []


def _installed_candidates():
    yield _SONAME  # resolved by the dynamic loader
    for directory in _install_directories():
        path = os.path.join(directory, _SONAME)
        if os.path.exists(path):
            yield path
    found = ctypes.util.find_library("diffuse")
    if found:
        yield found


def _build_tree_candidates():
    package_dir = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(package_dir)))
    if not os.path.exists(os.path.join(checkout, "include", "diffuse", "common.h")):
        return []
    paths = glob.glob(os.path.join(checkout, "build*", _SONAME))
    return sorted(paths, key=os.path.getmtime, reverse=True)


def _load(path):
    # RTLD_LOCAL (the default) keeps libdiffuse's symbols out of the global
    # namespace; ctypes releases the GIL during every call into it.
    return ctypes.CDLL(path)


def load_library():
    """Returns (ctypes.CDLL, path, version tuple) or raises ImportError."""
    explicit = _from_environment()
    if explicit is not None:
        try:
            library = _load(explicit)
        except OSError as error:
            raise LibraryNotFoundError(
                "%s=%s could not be loaded: %s" % (ENVIRONMENT_VARIABLE, explicit, error)) from None
        return _checked(library, explicit)
    tried = []
    candidates = _bundled_candidates() + list(_installed_candidates()) + _build_tree_candidates()
    for candidate in candidates:
        try:
            library = _load(candidate)
        except OSError as error:
            tried.append("%s (%s)" % (candidate, error))
            continue
        return _checked(library, _resolved_path(library, candidate))
    raise LibraryNotFoundError(
        "libdiffuse (%s) was not found. Set %s to the library file or to a build "
        "directory, install the library (cmake --install), or install this package "
        "with the library bundled (pip install ./bindings/python on a machine with "
        "cmake and the build dependencies). Tried: %s"
        % (_SONAME, ENVIRONMENT_VARIABLE, "; ".join(tried) or "nothing"))


def _resolved_path(library, candidate):
    """The file a bare soname resolved to (for messages), else the candidate."""
    if os.path.sep in candidate:
        return candidate
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if os.path.basename(path).startswith("libdiffuse.so"):
                    return path
    except (OSError, IndexError):
        pass
    return candidate


def _checked(library, path):
    try:
        function = library.diffuse_version_number
    except AttributeError:
        raise LibraryNotFoundError(
            "%s does not export diffuse_version_number: not libdiffuse" % path) from None
    function.argtypes = []
    function.restype = ctypes.c_uint
    return library, path, check_version(function(), path)
