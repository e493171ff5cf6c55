"""Versions: of this package, and of the C API it was written for."""

__version__ = "0.1.0"

# The libdiffuse version whose headers this binding declares. A library with
# another MAJOR version is refused (its ABI may differ); an older MINOR may
# lack some functions (they raise UnsupportedError when called).
WRAPPED_VERSION = (0, 1, 0)
