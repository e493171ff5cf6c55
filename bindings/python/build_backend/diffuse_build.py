"""A PEP 517 build backend for the pure-Python `diffuse` package, standard
library only.

Why not setuptools: `pip install ./bindings/python` builds in an isolated
environment and first downloads the backend named in pyproject.toml, which
fails on a machine without PyPI; `--no-build-isolation` with setuptools
then also needs the `wheel` package, which a fresh venv lacks. This backend
lives in the source tree (pyproject.toml: backend-path) and requires nothing,
so both commands work offline.

It builds:
  wheel     libdiffuse-<version>-py3-none-any.whl: the package (py.typed
            included) plus dist-info
            (METADATA, WHEEL, RECORD with sha256 hashes), PEP 427;
  editable  a wheel with a .pth file pointing at this directory, PEP 660;
  sdist     libdiffuse-<version>.tar.gz: this directory's sources, PEP 517.

Name, version, summary, keywords, classifiers and the readme (the long
description) come from [project] in pyproject.toml.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "diffuse"
SDIST_FILES = ("pyproject.toml", "README.md", "check_exports.py", "run_tests.sh")
SDIST_DIRECTORIES = (PACKAGE, "build_backend", "tests")


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


def _wheel_name():
    project = _project()
    return "%s-%s-py3-none-any.whl" % (project["name"], project["version"])


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


def _write_wheel(directory, contents):
    """Writes a wheel holding `contents` [(archive name, bytes)] plus dist-info."""
    dist_info = _dist_info()
    contents = list(contents) + [
        (dist_info + "/METADATA", _metadata().encode()),
        (dist_info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: diffuse_build\n"
                               b"Root-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = "".join(_record_line(name, data) for name, data in contents)
    record += dist_info + "/RECORD,,\n"
    path = os.path.join(directory, _wheel_name())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in contents + [(dist_info + "/RECORD", record.encode())]:
            wheel.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return os.path.basename(path)


def _read(path):
    with open(path, "rb") as stream:
        return stream.read()


# ---- PEP 517 / PEP 660 hooks ----------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = [(archive_name, _read(path)) for path, archive_name in _package_files()]
    return _write_wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, [("diffuse_editable.pth", (ROOT + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = "%s-%s" % (project["name"], project["version"])
    path = os.path.join(sdist_directory, base + ".tar.gz")
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as archive:
        pkg_info = _metadata().encode()
        info = tarfile.TarInfo(base + "/PKG-INFO")
        info.size = len(pkg_info)
        archive.addfile(info, io.BytesIO(pkg_info))
        for name in SDIST_FILES + SDIST_DIRECTORIES:
            if os.path.exists(os.path.join(ROOT, name)):
                archive.add(os.path.join(ROOT, name), base + "/" + name,
                            filter=lambda item: None if "__pycache__" in item.name else item)
    return os.path.basename(path)
