"""DiffuseError and one subclass per status code.

Every failing C call raises the subclass of its status, carrying the detailed
message of the handle the call was made on (or the thread's last error for
calls without a handle). The subclasses also derive from the built-in
exception a Python user would expect (ValueError for a bad argument, OSError
for a file that cannot be read, ...), so both styles of `except` work:

    try:
        schedule.beta_end = 2.0
    except diffuse.OutOfRangeError as error:   # or: except ValueError
        print(error.message)
"""

import enum


class Status(enum.IntEnum):
    """diffuse_status (values fixed forever by the C API)."""

    OK = 0
    INVALID_ARGUMENT = 1
    OUT_OF_RANGE = 2
    NO_MEMORY = 3
    STATE = 4
    NUMERIC = 5
    IO = 6
    FORMAT = 7
    CALLBACK = 8
    CANCELLED = 9
    MISMATCH = 10
    UNSUPPORTED = 11


class DiffuseError(Exception):
    """A libdiffuse call failed.

    Attributes: status (Status, or the raw int for a code newer than this
    binding), message (the library's detailed message), function (the C
    function that failed)."""

    def __init__(self, message, status=None, function=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.function = function

    def __str__(self):
        if self.status is None:
            return self.message
        name = self.status.name if isinstance(self.status, Status) else str(self.status)
        where = " in %s" % self.function if self.function else ""
        return "%s [DIFFUSE_ERROR_%s%s]" % (self.message, name, where)


class InvalidArgumentError(DiffuseError, ValueError):
    """NULL pointer, zero/oversized size, unknown enum or option."""


class OutOfRangeError(DiffuseError, ValueError):
    """An option value or index outside its bounds."""


class NoMemoryError(DiffuseError, MemoryError):
    """The library could not allocate memory."""


class StateError(DiffuseError, RuntimeError):
    """The call is not allowed in the handle's current state."""


class NumericError(DiffuseError, ArithmeticError):
    """NaN/Inf in an input, or a non-finite result."""


class DiffuseIOError(DiffuseError, OSError):
    """A file could not be read or written."""


class FormatError(DiffuseError, ValueError):
    """A file is corrupt, truncated or not a libdiffuse file."""


class CallbackError(DiffuseError):
    """A callback reported failure (an exception raised by a Python callback
    is re-raised as itself instead)."""


class CancelledError(DiffuseError):
    """A progress callback asked to stop."""


class MismatchError(DiffuseError, ValueError):
    """Handles, sizes or a file do not fit together."""


class UnsupportedError(DiffuseError):
    """A valid request this build or configuration cannot do (also raised for
    a function the loaded library does not export)."""


_BY_STATUS = {
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.OUT_OF_RANGE: OutOfRangeError,
    Status.NO_MEMORY: NoMemoryError,
    Status.STATE: StateError,
    Status.NUMERIC: NumericError,
    Status.IO: DiffuseIOError,
    Status.FORMAT: FormatError,
    Status.CALLBACK: CallbackError,
    Status.CANCELLED: CancelledError,
    Status.MISMATCH: MismatchError,
    Status.UNSUPPORTED: UnsupportedError,
}


def error_for_status(code, message, function=None):
    """The exception for a non-OK status code (DiffuseError for unknown codes)."""
    try:
        status = Status(code)
    except ValueError:
        return DiffuseError(message, code, function)
    return _BY_STATUS.get(status, DiffuseError)(message, status, function)
