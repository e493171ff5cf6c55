"""What every handle class shares: lifetime, borrowing, callbacks, options.

Lifetime. A C object is owned by a _Resource with a count of users: the
Python handle itself, plus every other C object that borrows it (a trainer
borrows its model and optimizer, a sampler its model). close(), leaving a
`with` block, or the weakref.finalize fallback (garbage collection, or
interpreter exit) drops the handle's use; the C free function runs when the
last use is gone. So closing a model that a live sampler still uses is safe:
the Python model refuses further calls at once, the C model is freed after the
sampler. Resources never refer to their Python handle, so no reference cycle
delays a free.

Closing from a callback. While a C call that may run Python callbacks is in
progress on a resource (call_with_callbacks), releasing it only counts the
release: the C object is freed when that call has returned, never under its
feet. Once such a pending release would free it, the resource is `closing`:
its callbacks then fail with StateError, so that the C call stops at the next
one, and the wrapper raises that StateError after the free.

Callbacks. ctypes callback objects and the Python callables behind them are
kept on the resource for as long as C may call them. A callback never lets
an exception escape into C (ctypes would print it and return 0, which means
"end of epoch" to the trainer): it stores the exception in a CallbackErrors
slot and returns the C failure value; the wrapper re-raises it, with its
original traceback, once the C call has returned.
"""

import ctypes
import operator
import os
import weakref

from ._capi import C
from ._errors import DiffuseError, InvalidArgumentError, StateError, Status


class _Resource:
    __slots__ = ("pointer", "_free", "_borrowed", "_users", "keep_alive", "errors", "_active",
                 "_deferred")

    def __init__(self, pointer, free, borrowed=()):
        self.pointer = pointer
        self._free = free
        self._borrowed = tuple(borrowed)
        self._users = 1
        for resource in self._borrowed:
            resource._users += 1
        self.keep_alive = {}  # role -> objects C may call (ctypes callbacks, user callables)
        self.errors = CallbackErrors()
        self._active = 0    # C calls in progress that may run its callbacks
        self._deferred = 0  # releases made meanwhile, applied when they return

    def release(self):
        if self._active:
            self._deferred += 1
            return
        self._users -= 1
        if self._users > 0:
            return
        self._free(self.pointer)
        self.pointer = None
        self.keep_alive = {}
        borrowed, self._borrowed = self._borrowed, ()
        for resource in borrowed:
            resource.release()

    @property
    def closing(self):
        """True when a release during the C call in progress will free it."""
        return 0 < self._users <= self._deferred

    def check_open(self, what):
        """For a callback: StateError once its handle was closed during the call."""
        if self.closing:
            raise StateError("this %s was closed by one of its callbacks; the call in progress "
                             "stopped and the %s is freed now" % (what, what), Status.STATE)

    def enter(self):
        self._active += 1

    def leave(self):
        self._active -= 1
        if not self._active:
            deferred, self._deferred = self._deferred, 0
            for _ in range(deferred):
                self.release()


class CallbackErrors:
    """The exception a callback raised during the current C call, if any."""

    __slots__ = ("pending",)

    def __init__(self):
        self.pending = None

    def store(self, error):
        if self.pending is None:  # the first failure is the interesting one
            self.pending = error

    def take(self):
        error, self.pending = self.pending, None
        return error


def write_message(buffer, size, error):
    """Copies 'Type: text' of `error` NUL-terminated into a C char buffer."""
    if not buffer or size == 0:
        return
    text = ("%s: %s" % (type(error).__name__, error)).encode("utf-8", "replace")[:size - 1]
    ctypes.memmove(buffer, text + b"\0", len(text) + 1)


def call_with_callbacks(resources, function, *args):
    """Calls function(*args); if a Python callback of one of `resources`
    failed meanwhile, re-raises that exception (its traceback still leads
    into the callback) instead of the library's CALLBACK status. A close()
    of one of them meanwhile takes effect when the call has returned."""
    for resource in resources:
        resource.enter()
    try:
        result = function(*args)
        failure = None
    except DiffuseError as error:
        failure = error
    finally:
        for resource in resources:
            resource.leave()
    for resource in resources:
        pending = resource.errors.take()
        if pending is not None:
            raise pending
    if failure is not None:
        raise failure
    return result


def enum_value(enum_class, value, what):
    """int value of an enum member given as a member, an int or a name."""
    if isinstance(value, str):
        try:
            return int(enum_class[value.upper()])
        except KeyError:
            names = ", ".join(member.name.lower() for member in enum_class)
            raise InvalidArgumentError("unknown %s %r; expected one of: %s"
                                       % (what, value, names), Status.INVALID_ARGUMENT) from None
    return typed_value("int", value, what)


def typed_value(kind, value, what):
    """value converted for a C option of type "int" or "double", with a clear
    TypeError for anything else (ctypes would only say "wrong type")."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        return float(value) if kind == "double" else operator.index(value)
    except (TypeError, ValueError):
        raise TypeError("%s takes %s; got %r" % (
            what, "a number" if kind == "double" else "an integer", value)) from None


def path_argument(path):
    """A file path as bytes for C, refusing an embedded NUL (C would end the
    name there and use another file)."""
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise ValueError("path %r contains a NUL character" % (path,))
    return encoded


def enum_member(enum_class, value):
    """The enum member for an int from C (the int itself for a newer value)."""
    try:
        return enum_class(value)
    except ValueError:
        return value


class Handle:
    """Base class of the handle classes: a context manager owning one C object."""

    _resource = None
    _finalizer = None

    def _adopt(self, pointer, free, borrowed=()):
        """Takes ownership of `pointer` (a c_void_p), freed with free(pointer);
        `borrowed` are the handles the C object uses until it is freed."""
        self._resource = _Resource(pointer, free, [handle._resource for handle in borrowed])
        self._finalizer = weakref.finalize(self, self._resource.release)

    @property
    def _h(self):
        """The C pointer; raises StateError once the handle is closed."""
        if self._finalizer is None or not self._finalizer.alive:
            raise StateError("this %s is closed" % type(self).__name__, Status.STATE)
        return self._resource.pointer

    @property
    def closed(self):
        return self._finalizer is None or not self._finalizer.alive

    def close(self):
        """Releases the C object (idempotent). A handle still borrowed by
        another open handle is freed when that one is."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self):
        self._h  # refuse a closed handle
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else self._describe()
        return "<diffuse.%s %s>" % (type(self).__name__, state)

    def _describe(self):
        return "open"

    def _keep(self, role, *objects):
        """Keeps objects alive while C may call them (replacing the previous `role`)."""
        if objects and objects[0] is not None:
            self._resource.keep_alive[role] = objects
        else:
            self._resource.keep_alive.pop(role, None)


class Options:
    """Typed options of a handle, exposed as keyword arguments and properties.

    A subclass lists OPTIONS = {name: (C option value, type)} with type "int",
    "double", "bool" or an IntEnum class (built by _options.option_table from
    the library's option introspection), and names its C functions with
    C_PREFIX: <prefix>_set_int/_double, <prefix>_get_int/_double and
    <prefix>_int_bounds/_double_bounds."""

    OPTIONS = {}
    C_PREFIX = None

    def _apply_options(self, options):
        for name, value in self._ordered(options):
            self.set_option(name, value)

    def _ordered(self, options):
        return list(options.items())

    def set_option(self, name, value):
        option, kind = self._spec(name)
        if isinstance(kind, type):
            value = enum_value(kind, value, name)
        elif kind == "bool":
            value = int(bool(value))
        else:
            value = typed_value(kind, value, name)
        self._c("set", kind)(self._h, option, value)

    def get_option(self, name):
        option, kind = self._spec(name)
        value = _C_TYPES[self._c_type(kind)]()
        self._c("get", kind)(self._h, option, ctypes.byref(value))
        if isinstance(kind, type):
            return enum_member(kind, value.value)
        return bool(value.value) if kind == "bool" else value.value

    def options(self):
        """{name: value} of every option."""
        return {name: self.get_option(name) for name in self.OPTIONS}

    @classmethod
    def bounds(cls, name):
        """Inclusive (min, max) of option `name`."""
        option, kind = cls._spec(name)
        c_type = _C_TYPES[cls._c_type(kind)]
        low, high = c_type(), c_type()
        getattr(C, "%s_%s_bounds" % (cls.C_PREFIX, cls._c_type(kind)))(
            option, ctypes.byref(low), ctypes.byref(high))
        return low.value, high.value

    @classmethod
    def _spec(cls, name):
        try:
            return cls.OPTIONS[name]
        except KeyError:
            raise TypeError("%s has no option %r; its options are: %s"
                            % (cls.__name__, name, ", ".join(cls.OPTIONS))) from None

    @staticmethod
    def _c_type(kind):
        return "double" if kind == "double" else "int"

    def _c(self, verb, kind):
        return getattr(C, "%s_%s_%s" % (self.C_PREFIX, verb, self._c_type(kind)))


_C_TYPES = {"double": ctypes.c_double, "int": ctypes.c_int64}


def option_property(name, doc):
    def get(self):
        return self.get_option(name)

    def set(self, value):
        self.set_option(name, value)

    return property(get, set, doc=doc)

