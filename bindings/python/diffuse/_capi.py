"""The loaded library, with every function of _declarations bound once.

`C.<c function name>(...)` calls the C function with its declared argtypes and
restype; a status function returns None on success and raises the
DiffuseError subclass of the status otherwise, with the handle's detailed
message (or the thread's diffuse_last_error() for calls without a handle).
Integer arguments are range-checked first (ctypes would silently wrap -1 into
2^64 - 1 for a size_t): a value outside its C type raises OutOfRangeError.
A function the loaded library does not export (an older minor version) is
replaced by a stub raising UnsupportedError when called; MISSING lists them.
"""

import ctypes
import operator

from . import _declarations
from ._errors import OutOfRangeError, Status, UnsupportedError, error_for_status
from ._library import load_library
from ._version import WRAPPED_VERSION

library, LIBRARY_PATH, LIBRARY_VERSION = load_library()


class _Functions:
    """Namespace of the bound C functions (attribute = C name)."""


C = _Functions()
MISSING = []


def _decode(raw):
    return None if raw is None else raw.decode("utf-8", "replace")


def _message(error_source, args, code):
    """The most specific message: the handle's, else the thread's, else the status text."""
    text = None
    if error_source is not None:
        last_error, index = error_source
        handle = args[index]
        if handle:
            text = getattr(C, last_error)(handle)
    if not text:
        text = C.diffuse_last_error()
    return text or C.diffuse_status_string(code) or "status %d" % code


def _status_check(error_source):
    def check(result, function, args):
        if result == Status.OK:
            return None
        raise error_for_status(result, _message(error_source, args, result), function.__name__)
    return check


def _string_result(result, function, args):
    return _decode(result)


def _plain_result(result, function, args):
    return result


def _integer_range(ctype):
    """(min, max, C type text) of a ctypes integer type, or None for other types."""
    if not (isinstance(ctype, type) and issubclass(ctype, ctypes._SimpleCData)
            and ctype._type_ in "bBhHiIlLqQ"):
        return None
    bits = 8 * ctypes.sizeof(ctype)
    if ctype._type_.islower():
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1, "int%d" % bits
    return 0, (1 << bits) - 1, "uint%d" % bits


def _range_checked(function, argtypes):
    checks = [(index,) + _integer_range(ctype) for index, ctype in enumerate(argtypes)
              if _integer_range(ctype) is not None]
    if not checks:
        return function

    def call(*args):
        for index, low, high, type_text in checks:
            try:
                value = operator.index(args[index])
            except TypeError:
                continue  # not an integer: ctypes reports the wrong type
            if not low <= value <= high:
                raise OutOfRangeError(
                    "argument %d of %s is %d, outside the range of its C type %s [%d, %d]"
                    % (index + 1, function.__name__, value, type_text, low, high),
                    Status.OUT_OF_RANGE, function.__name__)
        return function(*args)

    call.__name__ = function.__name__
    return call


def _missing(name):
    def unavailable(*args):
        raise UnsupportedError(
            "%s is not exported by libdiffuse %s at %s (this binding was written for %s)"
            % (name, ".".join(map(str, LIBRARY_VERSION)), LIBRARY_PATH,
               ".".join(map(str, WRAPPED_VERSION))), Status.UNSUPPORTED, name)
    unavailable.__name__ = name
    return unavailable


def _bind():
    for name, result, argtypes, error_source in _declarations.DECLARATIONS:
        function = getattr(library, name, None)
        if function is None:
            MISSING.append(name)
            setattr(C, name, _missing(name))
            continue
        function.argtypes = tuple(argtypes)
        function.restype = _declarations.RESULT_TYPES[result]
        if result == "status":
            function.errcheck = _status_check(error_source)
        elif result == "string":
            function.errcheck = _string_result
        else:
            function.errcheck = _plain_result
        setattr(C, name, _range_checked(function, argtypes))


_bind()
