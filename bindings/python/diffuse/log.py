"""The library's warnings as Python warnings.

The C library never prints: it hands warnings (a setting that will give poor
results, such as sampling from a schedule whose x_T keeps much of x_0) to a
process-wide log function. Importing diffuse installs one that raises each as
a `DiffuseWarning` through the `warnings` module, so the usual filters and
catch_warnings(record=True) apply:

    warnings.simplefilter("ignore", diffuse.DiffuseWarning)

(The warning is raised inside a C callback, so an "error" filter cannot
propagate it as an exception: ctypes prints it and the call goes on.)
"""

import warnings

from ._capi import C
from ._declarations import LOG_FN


class DiffuseWarning(UserWarning):
    """A warning from the C library (its message is the library's)."""


def _forward(user, level, message):
    # stacklevel 3: past this function and the ctypes call, at the caller's line.
    warnings.warn(message.decode("utf-8", "replace"), DiffuseWarning, stacklevel=3)


# Kept referenced for the life of the module: the library holds the pointer.
_LOG_FUNCTION = LOG_FN(_forward)
C.diffuse_set_log(_LOG_FUNCTION, None)
