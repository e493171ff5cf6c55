"""Arrays in and out of C through the buffer protocol; numpy optional.

Inputs may be any object with the buffer protocol holding float32 values
(numpy arrays, array('f'), memoryview) or raw native-endian float32 bytes
(bytearray, bytes), or a plain list/tuple of numbers (or of rows of numbers),
which is converted. Writable C-contiguous buffers are passed to C without a
copy; read-only or strided ones (a numpy slice or transpose) are copied, as
numpy.ascontiguousarray would. Outputs (`out=`) must be writable and
C-contiguous: C writes into their memory.

Inputs of rows (x_t, x0, data batches ...) are checked against the row shape
of the model or array they go with: shape (n,) + row shape, (n, dim), or flat
with n·dim values; any other shape is a ValueError naming the expected one.

Results are numpy arrays (float32, shape (n, d)) when numpy is importable and
the environment variable DIFFUSE_NO_NUMPY is not set to a non-empty value
other than "0"; otherwise flat array('f') objects (row-major, n*d values),
and array('d') / array('f') for other results.
"""

import array
import ctypes
import math
import operator
import os
import sys

from ._errors import MismatchError, Status

if os.environ.get("DIFFUSE_NO_NUMPY", "") not in ("", "0"):
    numpy = None
else:
    try:
        import numpy
    except ImportError:
        numpy = None

HAVE_NUMPY = numpy is not None

_NATIVE_PREFIXES = ("", "@", "=", "<" if sys.byteorder == "little" else ">")
_RAW_BYTE_FORMATS = ("B", "b", "c")
_FORMAT_NAMES = {"d": "float64", "e": "float16", "f": "float32", "i": "int32", "l": "int64",
                 "q": "int64", "h": "int16", "B": "uint8", "?": "bool"}


def _format_name(fmt):
    return "%r (%s)" % (fmt, _FORMAT_NAMES.get(fmt.lstrip("@=<>!"), "not float32"))


class _View:
    """A validated contiguous view of an input or output buffer."""

    __slots__ = ("source", "view", "count", "shape")

    def __init__(self, source, view, count, shape):
        self.source, self.view, self.count, self.shape = source, view, count, shape


def _typed_view(obj, name, code, ctype, allow_raw=True):
    """memoryview of obj checked to hold C-contiguous native values of `code`
    (or, with allow_raw, raw bytes holding them)."""
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError("%s must be a buffer of %s values (numpy array, array(%r), "
                        "memoryview, bytearray) or a list of numbers; got %s"
                        % (name, _FORMAT_NAMES[code], code, type(obj).__name__)) from None
    fmt = view.format
    size = ctypes.sizeof(ctype)
    if allow_raw and fmt in _RAW_BYTE_FORMATS:
        if view.nbytes % size:
            raise ValueError("%s: %d bytes is not a whole number of %s values (%d bytes each)"
                             % (name, view.nbytes, _FORMAT_NAMES[code], size))
        count, shape = view.nbytes // size, (view.nbytes // size,)
    elif fmt[-1:] == code and fmt[:-1] in _NATIVE_PREFIXES and view.itemsize == size:
        count, shape = view.nbytes // size, tuple(view.shape)
    else:
        raise TypeError("%s must hold %s values (buffer format %r); got format %s%s"
                        % (name, _FORMAT_NAMES[code], code, _format_name(fmt),
                           _conversion_hint(code)))
    return _View(obj, view, count, shape)


def _contiguous(view, code):
    """The view itself when C-contiguous, else a C-ordered copy (tobytes
    reads a strided buffer in row-major order), with the same shape."""
    if view.view.c_contiguous:
        return view
    copy = memoryview(bytearray(view.view.tobytes())).cast(code, view.shape or (view.count,))
    return _View(copy, copy, view.count, view.shape)


def _writable(view, name):
    """An output's view, refused unless C writes into the caller's memory."""
    if view.view.readonly:
        raise ValueError("%s must be writable; got a read-only buffer" % name)
    if not view.view.c_contiguous:
        raise ValueError("%s must be C-contiguous (row-major without gaps): results are "
                         "written into its memory; got a strided view" % name)
    return view


def _conversion_hint(code):
    if HAVE_NUMPY:
        return ": convert it with numpy.asarray(x, dtype=numpy.%s)" % _FORMAT_NAMES[code]
    return ": convert it with array.array(%r, x)" % code


def _from_sequence(obj, name, code):
    """array(code) from a list/tuple of numbers or of equal-length rows, and its shape."""
    if obj and isinstance(obj[0], (list, tuple)):
        width = len(obj[0])
        if any(len(row) != width for row in obj):
            raise ValueError("%s: rows of different lengths" % name)
        flat = array.array(code, (value for row in obj for value in row))
        return flat, (len(obj), width)
    return array.array(code, obj), (len(obj),)


def _input_view(obj, name, code, ctype):
    if isinstance(obj, (list, tuple)):
        flat, shape = _from_sequence(obj, name, code)
        return _View(flat, memoryview(flat), len(flat), shape)
    return _contiguous(_typed_view(obj, name, code, ctype), code)


def _check_count(view, name, count):
    if count is not None and view.count != count:
        raise ValueError("%s must hold %d values; got %d" % (name, count, view.count))


def _pointer(view, ctype):
    """A ctypes array over the view's memory: shared when writable, else a copy."""
    array_type = ctype * view.count
    if view.view.readonly:
        return array_type.from_buffer_copy(view.view)
    return array_type.from_buffer(view.view)


def float_input(obj, name, count=None):
    """(ctypes float array, count, shape) for an input of float32 values."""
    view = _input_view(obj, name, "f", ctypes.c_float)
    _check_count(view, name, count)
    return _pointer(view, ctypes.c_float), view.count, view.shape


def shape_size(shape):
    """The number of values in one buffer of `shape`."""
    return math.prod(shape)


def _shape_text(row_shape):
    return "(n, %s)" % ", ".join(str(extent) for extent in row_shape)


def row_count(shape, count, name, row_shape, rows=None):
    """n for a buffer of `shape` holding n rows of `row_shape`: shape
    (n,) + row_shape, (n, dim) or flat (n·dim values); MismatchError (a
    ValueError) otherwise, or when `rows` is given and n differs."""
    dim = shape_size(row_shape)
    if len(shape) > 1 and tuple(shape[1:]) in (tuple(row_shape), (dim,)):
        n = shape[0]
    elif len(shape) <= 1 and (count % dim == 0 if dim else count == 0):
        n = count // dim if dim else 0
    else:
        shapes = [_shape_text(row_shape)] + ([_shape_text((dim,))] if len(row_shape) > 1 else [])
        raise MismatchError("%s must have shape %s or be flat with a multiple of %d values; "
                            "got %s"
                            % (name, " or ".join(shapes), dim,
                               "shape %s" % (tuple(shape),) if len(shape) > 1
                               else "%d values" % count), Status.MISMATCH)
    if rows is not None and n != rows:
        raise MismatchError("%s has %d rows; expected %d (shape %s)"
                            % (name, n, rows, _shape_text(row_shape).replace("n", str(rows), 1)),
                            Status.MISMATCH)
    return n


def float_rows(obj, name, row_shape, rows=None):
    """(ctypes float array, n) for an input of n rows of `row_shape` float32
    values (see row_count)."""
    view = _input_view(obj, name, "f", ctypes.c_float)
    n = row_count(view.shape, view.count, name, row_shape, rows)
    return _pointer(view, ctypes.c_float), n


def double_input(obj, name, count=None):
    """(ctypes double array, count) for an input of float64 values."""
    view = _input_view(obj, name, "d", ctypes.c_double)
    _check_count(view, name, count)
    return _pointer(view, ctypes.c_double), view.count


def int32_input(obj, name, count=None):
    """(ctypes int32 array, count) for timesteps. An int is repeated `count`
    times; other integer buffers (e.g. numpy int64) and sequences are
    converted, raising OverflowError for values outside int32 (a single int
    too: ctypes would wrap it modulo 2^32)."""
    scalar = scalar_int(obj)
    if scalar is not None:
        if count is None:
            raise ValueError("%s: a single int needs a known number of rows" % name)
        if not -2**31 <= scalar < 2**31:
            raise OverflowError("%s = %d is outside the int32 range of timesteps" % (name, scalar))
        values = (ctypes.c_int32 * count)()
        values[:] = [scalar] * count
        return values, count
    try:
        view = _contiguous(_typed_view(obj, name, "i", ctypes.c_int32, allow_raw=False), "i")
    except (TypeError, ValueError):
        converted = array.array("i", _as_ints(obj, name))
        view = _View(converted, memoryview(converted), len(converted), (len(converted),))
    _check_count(view, name, count)
    return _pointer(view, ctypes.c_int32), view.count


def _as_ints(obj, name):
    try:
        values = obj.tolist() if hasattr(obj, "tolist") else obj
        return [operator.index(value) for value in values]
    except TypeError:
        raise _not_timesteps(obj, name) from None


def _not_timesteps(obj, name):
    """The TypeError for timesteps (or labels) that are not integers."""
    shown = type(obj).__name__ if hasattr(obj, "__len__") else "%s %r" % (type(obj).__name__, obj)
    what = "labels" if name == "labels" else "timesteps"
    return TypeError("%s: %s must be integers (an int, or a sequence/buffer of ints); "
                     "got %s" % (name, what, shown))


def scalar_timestep(obj, name):
    """obj as an int when it is a single integer, else the TypeError."""
    value = scalar_int(obj)
    if value is None:
        raise _not_timesteps(obj, name)
    return value


def scalar_int(obj):
    """obj as an int when it is a single integer (int, numpy integer), else None."""
    if hasattr(obj, "__len__"):
        return None
    try:
        return operator.index(obj)
    except TypeError:
        return None


def int32_length(obj, name):
    """Number of timesteps in obj, or None for a single integer."""
    if scalar_int(obj) is not None:
        return None
    if not hasattr(obj, "__len__"):
        raise _not_timesteps(obj, name)
    return len(obj)


def float_output(out, name, count, shape):
    """(result object, ctypes float array) for `count` float32 results.

    Without `out`, a new numpy array of `shape` (or a flat array('f')) is
    allocated. A given `out` must be a writable C-contiguous float32 buffer of
    exactly `count` values, of `shape` (or (n, dim)) when it has rows; it is
    written in place and returned."""
    if out is None:
        if numpy is not None:
            out = numpy.empty(shape, dtype=numpy.float32)
        else:
            out = array.array("f", bytes(4 * count))
    view = _writable(_typed_view(out, name, "f", ctypes.c_float), name)
    _check_count(view, name, count)
    if len(shape) > 1:
        row_count(view.shape, view.count, name, shape[1:], shape[0])
    return out, (ctypes.c_float * count).from_buffer(view.view)


def double_result(count, shape=None):
    """(result object, ctypes double array) for `count` float64 results."""
    if numpy is not None:
        out = numpy.empty(shape or (count,), dtype=numpy.float64)
    else:
        out = array.array("d", bytes(8 * count))
    return out, (ctypes.c_double * count).from_buffer(memoryview(out))


def float_result_from_pointer(pointer, count, shape):
    """A new result array holding a copy of `count` floats at a ctypes pointer."""
    out, target = float_output(None, "result", count, shape)
    ctypes.memmove(target, pointer, 4 * count)
    return out


def int32_result_from_pointer(pointer, count):
    """A new int32 result (numpy array or array('i')) copied from a ctypes pointer."""
    if numpy is not None:
        out = numpy.empty(count, dtype=numpy.int32)
    else:
        out = array.array("i", bytes(4 * count))
    ctypes.memmove((ctypes.c_int32 * count).from_buffer(memoryview(out)), pointer, 4 * count)
    return out
