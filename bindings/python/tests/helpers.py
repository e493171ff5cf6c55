"""Shared by the test modules: import the package under test, small fixtures.

The tests import `diffuse` from this checkout (bindings/python), unless
DIFFUSE_TEST_INSTALLED=1 asks for the installed package. The library comes
from DIFFUSE_LIBRARY (run_tests.sh sets it to the build directory under
test), else from the usual search (see diffuse/_library.py).
"""

import array
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
BINDING = os.path.dirname(HERE)
REPOSITORY = os.path.dirname(os.path.dirname(BINDING))

if os.environ.get("DIFFUSE_TEST_INSTALLED", "") in ("", "0"):
    sys.path.insert(0, BINDING)

import diffuse  # noqa: E402  (after the path set-up)

# The suites use short schedules on purpose; test_log checks the warning.
warnings.filterwarnings("ignore", category=diffuse.DiffuseWarning)

numpy = diffuse._buffers.numpy  # None when numpy is absent or hidden


def values(result):
    """A list of floats from any result (numpy array or array)."""
    if numpy is not None and isinstance(result, numpy.ndarray):
        return [float(v) for v in result.ravel()]
    return list(result)


def floats(sequence):
    return array.array("f", sequence)


def small_model(dim=2, **options):
    settings = dict(hidden_width=32, hidden_layers=1, time_embed_dim=16, seed=3)
    settings.update(options)
    return diffuse.Model(dim, **settings)


def missing(*names):
    """True when the loaded library lacks one of the C functions `names`."""
    return any(name in diffuse._capi.MISSING for name in names)
