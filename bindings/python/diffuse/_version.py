"""Versions: of this package, and of the C API it was written for."""

__version__ = "0.2.0"

# The libdiffuse version whose headers this binding declares. A library of
# another ABI series is refused (its ABI may differ): another MAJOR version,
# or before 1.0 another MINOR one (libdiffuse.so.0.2 is not .so.0.1). Within
# the series an older release may lack some functions (they raise
# UnsupportedError when called).
WRAPPED_VERSION = (0, 2, 0)
ABI_SERIES = WRAPPED_VERSION[:1] if WRAPPED_VERSION[0] > 0 else WRAPPED_VERSION[:2]
