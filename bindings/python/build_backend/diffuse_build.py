"""A PEP 517 build backend for the `diffuse` package, standard library only,
that builds libdiffuse with CMake and bundles it in the wheel.

Why not setuptools: `pip install ./bindings/python` builds in an isolated
environment and first downloads the backend named in pyproject.toml, which
fails on a machine without PyPI; `--no-build-isolation` with setuptools
then also needs the `wheel` package, which a fresh venv lacks. This backend
lives in the source tree (pyproject.toml: backend-path) and requires nothing,
so both commands work offline. Building the C library needs what building it
by hand needs (cmake, a C compiler, OpenBLAS, Jansson, zlib: see
tests/install-deps.sh); nothing comes from PyPI.

It builds:
  wheel     libdiffuse-<version>-py3-none-<platform>.whl: the package (py.typed
            included), the shared library as diffuse/libdiffuse.so.<ABI series>
            (CMake, Release, only the `diffuse` target, in a temporary
            directory), and dist-info (METADATA, WHEEL, RECORD with sha256
            hashes), PEP 427. With DIFFUSE_BUNDLE=0 in the environment (or
            `pip install --config-settings bundle=0`), for distributors that
            ship the library separately: libdiffuse-<version>-py3-none-any.whl,
            the package only;
  editable  a wheel with a .pth file pointing at this directory, PEP 660 (no
            bundled library: the package finds the checkout's build*/ tree);
  sdist     libdiffuse-<version>.tar.gz: this directory's sources plus the C
            sources CMake needs for the library, under csrc/, PEP 517.

The C sources are, in this order: $DIFFUSE_SOURCE_DIR; csrc/ in this
directory (an unpacked sdist); the source checkout two levels up (this
directory is <checkout>/bindings/python). A build that finds none fails with a
message saying so.

Name, version, summary, keywords, classifiers and the readme (the long
description) come from [project] in pyproject.toml.
"""

import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sysconfig
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "diffuse"
SDIST_FILES = ("pyproject.toml", "README.md", "check_exports.py", "run_tests.sh")
SDIST_DIRECTORIES = (PACKAGE, "build_backend", "tests")
# What CMake needs to configure and build the `diffuse` target, copied into
# the sdist's csrc/ (tests, examples, bench and the CLI are switched off).
C_SOURCE_FILES = ("CMakeLists.txt", "LICENSE")
C_SOURCE_DIRECTORIES = ("cmake", "include", "src")
C_SOURCE_MARKER = os.path.join("include", "diffuse", "common.h")
BUNDLE_VARIABLE = "DIFFUSE_BUNDLE"
SOURCE_VARIABLE = "DIFFUSE_SOURCE_DIR"
CMAKE_OPTIONS = ("-DCMAKE_BUILD_TYPE=Release", "-DDIFFUSE_BUILD_TESTS=OFF",
                 "-DDIFFUSE_BUILD_EXAMPLES=OFF", "-DDIFFUSE_BUILD_BENCH=OFF",
                 "-DDIFFUSE_BUILD_CLI=OFF", "-DDIFFUSE_BUILD_STATIC=OFF")


class BuildError(RuntimeError):
    """The wheel cannot be built as asked (no C sources, no cmake, a failed build)."""


def _project():
    """The string fields of [project] in pyproject.toml (name, version,
    description, readme, requires-python), and its string lists (keywords,
    classifiers) as lists."""
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as stream:
        text = stream.read()
    section = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)
    fields = dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]*)"\s*$', section, re.M))
    for key, items in re.findall(r'^([\w-]+)\s*=\s*\[(.*?)\]', section, re.M | re.S):
        fields[key] = re.findall(r'"([^"]*)"', items)
    return fields


def _metadata():
    """Core metadata 2.1 (PKG-INFO / METADATA), the readme as its body."""
    project = _project()
    head = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "Requires-Python: %s\nLicense: MIT\n"
            % (project["name"], project["version"], project.get("description", ""),
               project.get("requires-python", ">=3.8")))
    if project.get("keywords"):
        head += "Keywords: %s\n" % ",".join(project["keywords"])
    head += "".join("Classifier: %s\n" % line for line in project.get("classifiers", []))
    readme = project.get("readme")
    if readme is None:
        return head
    body = _read(os.path.join(ROOT, readme)).decode("utf-8")
    return head + "Description-Content-Type: text/markdown\n\n" + body


def _dist_info():
    project = _project()
    return "%s-%s.dist-info" % (project["name"], project["version"])


def _wheel_name(tag):
    project = _project()
    return "%s-%s-%s.whl" % (project["name"], project["version"], tag)


def _platform_tag():
    """The wheel's platform tag (linux_x86_64): the library is native code,
    loaded through ctypes, so any Python 3 of that platform can use it."""
    return re.sub(r"[-.]", "_", sysconfig.get_platform())


def _package_files():
    for directory, subdirectories, files in os.walk(os.path.join(ROOT, PACKAGE)):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py") or name == "py.typed":
                path = os.path.join(directory, name)
                yield path, os.path.relpath(path, ROOT)


def _record_line(archive_name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d\n" % (archive_name, digest, len(data))


def _write_wheel(directory, contents, tag="py3-none-any"):
    """Writes a wheel holding `contents` [(archive name, bytes)] plus dist-info;
    a wheel with a tag other than py3-none-any holds native code (platlib)."""
    dist_info = _dist_info()
    wheel_file = ("Wheel-Version: 1.0\nGenerator: diffuse_build\nRoot-Is-Purelib: %s\n"
                  "Tag: %s\n" % ("true" if tag == "py3-none-any" else "false", tag))
    contents = list(contents) + [
        (dist_info + "/METADATA", _metadata().encode()),
        (dist_info + "/WHEEL", wheel_file.encode()),
    ]
    record = "".join(_record_line(name, data) for name, data in contents)
    record += dist_info + "/RECORD,,\n"
    path = os.path.join(directory, _wheel_name(tag))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in contents + [(dist_info + "/RECORD", record.encode())]:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data)
    return os.path.basename(path)


def _read(path):
    with open(path, "rb") as stream:
        return stream.read()


def _bundling(config_settings):
    """False when DIFFUSE_BUNDLE (or the config setting `bundle`) is 0/no/off/false."""
    value = (config_settings or {}).get("bundle", os.environ.get(BUNDLE_VARIABLE, "1"))
    return str(value).strip().lower() not in ("0", "no", "off", "false")


def _c_source():
    """The directory holding libdiffuse's C sources (see the module docstring)."""
    explicit = os.environ.get(SOURCE_VARIABLE)
    candidates = [explicit] if explicit else [
        os.path.join(ROOT, "csrc"), os.path.dirname(os.path.dirname(ROOT))]
    for candidate in candidates:
        if os.path.exists(os.path.join(candidate, C_SOURCE_MARKER)):
            return os.path.abspath(candidate)
    raise BuildError(
        "libdiffuse's C sources were not found (looked for %s in %s). The wheel bundles "
        "the C library, built from the source checkout that holds bindings/python or "
        "from an sdist's csrc/: build from such a tree, set %s to the top of the C "
        "sources, or set %s=0 to build the Python package alone (then install the "
        "library separately or set DIFFUSE_LIBRARY)"
        % (C_SOURCE_MARKER, ", ".join(candidates), SOURCE_VARIABLE, BUNDLE_VARIABLE))


def _run(command, what):
    if shutil.which(command[0]) is None:
        raise BuildError("building the bundled libdiffuse needs %s, which is not on PATH "
                         "(tests/install-deps.sh installs the build dependencies; %s=0 "
                         "builds the Python package alone)" % (command[0], BUNDLE_VARIABLE))
    # The build's output goes to pip's log (shown with -v or on failure).
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    print(result.stdout)
    if result.returncode != 0:
        raise BuildError("%s failed (exit status %d): %s\n%s\nInstall the build "
                         "dependencies (tests/install-deps.sh) or set %s=0 to build the "
                         "Python package alone" % (what, result.returncode, " ".join(command),
                                                   result.stdout[-4000:], BUNDLE_VARIABLE))


def _build_library(source):
    """Builds libdiffuse.so from `source` in a temporary directory and returns
    (its SONAME, e.g. libdiffuse.so.0.2, the library's bytes)."""
    with tempfile.TemporaryDirectory(prefix="libdiffuse-build-") as build:
        _run(["cmake", "-S", source, "-B", build] + list(CMAKE_OPTIONS), "configuring libdiffuse")
        _run(["cmake", "--build", build, "--target", "diffuse", "--parallel",
              str(os.cpu_count() or 1)], "building libdiffuse")
        # CMake links libdiffuse.so -> libdiffuse.so.<SOVERSION> -> the file
        # with the full version: the shortest versioned name is the SONAME.
        names = [name for name in os.listdir(build) if name.startswith("libdiffuse.so.")]
        if not names:
            raise BuildError("building libdiffuse produced no libdiffuse.so.* in %s" % build)
        soname = min(names, key=len)
        return soname, _read(os.path.join(build, soname))


# ---- PEP 517 / PEP 660 hooks ----------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = [(archive_name, _read(path)) for path, archive_name in _package_files()]
    if not _bundling(config_settings):
        return _write_wheel(wheel_directory, files)
    soname, library = _build_library(_c_source())
    files.append((PACKAGE + "/" + soname, library))
    return _write_wheel(wheel_directory, files, "py3-none-" + _platform_tag())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, [("diffuse_editable.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = "%s-%s" % (project["name"], project["version"])
    # The C sources go in unless the sdist is of the Python package alone, so
    # that a wheel built from it can bundle the library.
    sources = [(os.path.join(ROOT, name), name) for name in SDIST_FILES + SDIST_DIRECTORIES]
    if _bundling(config_settings):
        c_source = _c_source()
        sources += [(os.path.join(c_source, name), "csrc/" + name)
                    for name in C_SOURCE_FILES + C_SOURCE_DIRECTORIES]
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        pkg_info = _metadata().encode()
        info = tarfile.TarInfo(base + "/PKG-INFO")
        info.size = len(pkg_info)
        archive.addfile(info, io.BytesIO(pkg_info))
        for source, name in sources:
            if os.path.exists(source):
                archive.add(source, base + "/" + name,
                            filter=lambda item: None if "__pycache__" in item.name else item)
    return os.path.basename(path)
