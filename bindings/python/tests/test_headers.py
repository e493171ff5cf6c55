"""The declarations match the public headers' prototypes, type by type.

Parses every DIFFUSE_API prototype in include/diffuse/*.h (when the tests run
from a checkout), maps each C type to its ctypes equivalent and compares with
diffuse/_declarations.py, so a changed header fails here before it corrupts a
call at run time.
"""

import ctypes
import glob
import os
import re
import unittest

from helpers import REPOSITORY

from diffuse import _declarations as D

HEADERS = os.path.join(REPOSITORY, "include", "diffuse")

_SCALARS = {
    "size_t": ctypes.c_size_t, "uint64_t": ctypes.c_uint64, "int64_t": ctypes.c_int64,
    "int32_t": ctypes.c_int32, "int": ctypes.c_int, "unsigned": ctypes.c_uint,
    "double": ctypes.c_double, "float": ctypes.c_float, "char": ctypes.c_char,
    "void": ctypes.c_void_p,
}
_STRUCTS = {"diffuse_model_call": D.ModelCall, "diffuse_option_info": D.OptionInfo,
            "diffuse_nll_terms": D.NllTerms, "diffuse_nll_request": D.NllRequest,
            "diffuse_peer_exchange": D.PeerExchange}
_CALLBACKS = {"diffuse_data_fn": D.DATA_FN, "diffuse_train_progress_fn": D.TRAIN_PROGRESS_FN,
              "diffuse_sample_progress_fn": D.SAMPLE_PROGRESS_FN,
              "diffuse_predict_fn": D.PREDICT_FN, "diffuse_log_fn": D.LOG_FN,
              "diffuse_classifier_fn": D.CLASSIFIER_FN, "diffuse_peer_fn": D.PEER_FN}
# Headers of companion libraries, not of libdiffuse.so (mpi.h: libdiffuse_mpi).
_COMPANION_HEADERS = {"mpi.h"}


def _source():
    text = ""
    for path in sorted(glob.glob(os.path.join(HEADERS, "*.h"))):
        if os.path.basename(path) in _COMPANION_HEADERS:
            continue
        with open(path, encoding="utf-8") as stream:
            text += stream.read()
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def _type_names(source):
    handles = set(re.findall(r"typedef\s+struct\s+\w+\s+(\w+)\s*;", source))
    enums = set(re.findall(r"typedef\s+enum\s+\w+\s*\{[^}]*\}\s*(\w+)\s*;", source))
    return handles, enums


def _ctype(text, handles, enums):
    """The ctypes type of a C type (with the parameter name removed): const
    char * is a string (c_char_p), a plain char * a writable buffer."""
    constant = "const" in text
    text = text.replace("const", " ")
    array = text.strip().endswith("]")
    stars = text.count("*") + (1 if array else 0)
    base = re.sub(r"\[.*\]", "", text).replace("*", " ").split()[0]
    if base in _CALLBACKS:
        return _CALLBACKS[base]
    if base in _STRUCTS:
        kind = _STRUCTS[base]
    elif base in handles:
        kind, stars = ctypes.c_void_p, stars - 1
    elif base in enums:
        kind = ctypes.c_int
    elif base == "char" and stars >= 1 and constant:
        kind, stars = ctypes.c_char_p, stars - 1
    elif base == "void" and stars >= 1:
        kind, stars = ctypes.c_void_p, stars - 1
    else:
        kind = _SCALARS[base]
    for _ in range(stars):
        kind = ctypes.POINTER(kind)
    return kind


def _without_name(parameter):
    # "const float *x_t" -> "const float *"; "size_t shape[4]" -> "size_t [4]"
    return re.sub(r"\b\w+\s*(\[[^\]]*\])?\s*$", r" \1", parameter.strip())


def prototypes():
    source = _source()
    handles, enums = _type_names(source)
    found = {}
    for result, name, parameters in re.findall(
            r"DIFFUSE_API\s+([^;()]*?)\b(diffuse_\w+)\s*\(([^;]*?)\)\s*;", source, re.S):
        params = [p for p in parameters.split(",") if p.strip() and p.strip() != "void"]
        result = result.strip()
        if result == "void":
            restype = None
        elif result == "diffuse_status":
            restype = ctypes.c_int
        else:
            restype = _ctype(result, handles, enums)
        found[name] = (restype, [_ctype(_without_name(p), handles, enums) for p in params])
    return found


@unittest.skipUnless(os.path.isdir(HEADERS), "needs the headers of a source checkout")
class HeaderTest(unittest.TestCase):
    def test_declarations_match_the_prototypes(self):
        found = prototypes()
        self.assertGreater(len(found), 100)
        declared = {name: (D.RESULT_TYPES[result], list(argtypes))
                    for name, result, argtypes, _ in D.DECLARATIONS}
        self.assertEqual(sorted(set(found) - set(declared)), [], "prototypes not declared")
        self.assertEqual(sorted(set(declared) - set(found)), [], "declared without prototype")
        for name in sorted(found):
            with self.subTest(function=name):
                self.assertEqual(declared[name], found[name])

    def test_callback_prototypes_match_the_typedefs(self):
        source = _source()
        handles, enums = _type_names(source)
        typedefs = dict((name, (result, parameters)) for result, name, parameters in re.findall(
            r"typedef\s+(\w+)\s*\(\s*\*\s*(\w+)\s*\)\s*\(([^;]*?)\)\s*;", source, re.S))
        self.assertEqual(sorted(typedefs), sorted(_CALLBACKS))
        for name, prototype in _CALLBACKS.items():
            with self.subTest(callback=name):
                result, parameters = typedefs[name]
                argtypes = [_ctype(_without_name(p), handles, enums)
                            for p in parameters.split(",")]
                self.assertIs(prototype._restype_, None if result == "void" else _SCALARS[result])
                self.assertEqual(list(prototype._argtypes_), argtypes)

    def test_structs_match_the_headers(self):
        source = _source()
        handles, enums = _type_names(source)
        bodies = dict((name, body) for body, name in re.findall(
            r"typedef\s+struct\s+\w+\s*\{([^}]*)\}\s*(\w+)\s*;", source))
        self.assertEqual(sorted(bodies), sorted(_STRUCTS))
        for name, structure in _STRUCTS.items():
            with self.subTest(struct=name):
                fields = []
                for declaration in bodies[name].split(";"):
                    if not declaration.strip():
                        continue
                    # "double min, max" -> base "double", fields "min", "max"
                    first, *others = declaration.split(",")
                    base = _without_name(first)
                    field = re.search(r"(\w+)\s*$", first).group(1)
                    for field in [field] + [other.strip() for other in others]:
                        fields.append((field, _ctype(base, handles, enums)))
                self.assertEqual(fields, list(structure._fields_))

    def test_enum_values_match_the_headers(self):
        import diffuse
        source = _source()
        pairs = {
            "diffuse_status": (diffuse.Status, "DIFFUSE_(?:ERROR_)?"),
            "diffuse_schedule_kind": (diffuse.ScheduleKind, "DIFFUSE_SCHEDULE_"),
            "diffuse_schedule_option": (diffuse.ScheduleOption, "DIFFUSE_SCHEDULE_"),
            "diffuse_schedule_table": (diffuse.Table, "DIFFUSE_TABLE_"),
            "diffuse_architecture": (diffuse.Architecture, "DIFFUSE_ARCH_"),
            "diffuse_prediction": (diffuse.Prediction, "DIFFUSE_PREDICT_"),
            "diffuse_activation": (diffuse.Activation, "DIFFUSE_ACTIVATION_"),
            "diffuse_model_option": (diffuse.ModelOption, "DIFFUSE_MODEL_"),
            "diffuse_optimizer_kind": (diffuse.OptimizerKind, "DIFFUSE_OPTIMIZER_"),
            "diffuse_lr_decay": (diffuse.LRDecay, "DIFFUSE_LR_DECAY_"),
            "diffuse_optimizer_option": (diffuse.OptimizerOption, "DIFFUSE_OPTIMIZER_"),
            "diffuse_trainer_option": (diffuse.TrainerOption, "DIFFUSE_TRAINER_"),
            "diffuse_peer_phase": (diffuse.PeerPhase, "DIFFUSE_PEER_"),
            "diffuse_variance": (diffuse.Variance, "DIFFUSE_VARIANCE_"),
            "diffuse_decoder": (diffuse.Decoder, "DIFFUSE_DECODER_"),
            "diffuse_sampler_option": (diffuse.SamplerOption, "DIFFUSE_SAMPLER_"),
            "diffuse_sample_method": (diffuse.SampleMethod, "DIFFUSE_METHOD_"),
            "diffuse_spacing": (diffuse.Spacing, "DIFFUSE_SPACING_"),
            "diffuse_toy2d": (diffuse.Toy2D, "DIFFUSE_TOY2D_"),
            "diffuse_log_level": (diffuse.LogLevel, "DIFFUSE_LOG_"),
        }
        enums = dict((name, body) for body, name in
                     re.findall(r"typedef\s+enum\s+\w+\s*\{([^}]*)\}\s*(\w+)\s*;", source))
        self.assertEqual(sorted(set(enums) - set(pairs)), [], "enums without a Python class")
        for name, (python_enum, prefix) in pairs.items():
            with self.subTest(enum=name):
                members = {re.sub("^" + prefix, "", member): int(value) for member, value in
                           re.findall(r"(\w+)\s*=\s*(\d+)", enums[name])}
                self.assertEqual(members, {m.name: m.value for m in python_enum})


if __name__ == "__main__":
    unittest.main()
