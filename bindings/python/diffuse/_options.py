"""Option tables read from the library at import time.

Every handle with options describes them in C (diffuse_<handle>_option_count
and _option_info: option value, name, type, bounds, default), so the binding
hard-codes no option ids, names or types: the option enums (ScheduleOption,
...) and each class's OPTIONS are built here from what the loaded library
reports. Only how Python presents a value ("bool", an IntEnum) is the
binding's own choice.
"""

import ctypes
import enum

from ._capi import C
from ._declarations import OptionInfo


def option_infos(prefix, kind=None):
    """The OptionInfo of each option of handle `prefix` ("diffuse_schedule")
    that applies to `kind` (None for handles whose options have no kind)."""
    head = () if kind is None else (int(kind),)
    count = ctypes.c_size_t()
    getattr(C, prefix + "_option_count")(*head, ctypes.byref(count))
    infos = []
    for index in range(count.value):
        info = OptionInfo(size=ctypes.sizeof(OptionInfo))
        getattr(C, prefix + "_option_info")(*head, index, ctypes.byref(info))
        infos.append(info)
    return infos


def option_names(prefix, kind=None):
    """Names of the options that apply to `kind`, in option order."""
    return tuple(info.name.decode() for info in option_infos(prefix, kind))


def option_table(prefix, kinds=(None,), presented=None):
    """{name: (option value, type)} of the options of any of `kinds`, in
    option order; type is "int" or "double" as the library says, or
    presented[name] ("bool" or an IntEnum class) where given."""
    presented = presented or {}
    table = {}
    for kind in kinds:
        for info in option_infos(prefix, kind):
            name = info.name.decode()
            table[name] = (info.option,
                           presented.get(name, "double" if info.is_double else "int"))
    unknown = sorted(set(presented) - set(table))
    if unknown:  # the binding names an option the library does not have
        raise RuntimeError("%s has no option %s" % (prefix, ", ".join(unknown)))
    return dict(sorted(table.items(), key=lambda item: item[1][0]))


def option_enum(class_name, prefix, kinds=(None,)):
    """An IntEnum NAME = option value of every option of the handle."""
    members = [(name.upper(), value) for name, (value, _) in option_table(prefix, kinds).items()]
    return enum.IntEnum(class_name, members, module="diffuse.enums")
