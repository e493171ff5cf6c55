"""Sample-quality statistics (diffuse/metrics.h)."""

import ctypes

from ._buffers import double_result, float_input
from ._capi import C


def _rows(x, name, dim):
    values, count, shape = float_input(x, name)
    if dim is None:
        if len(shape) != 2:
            raise ValueError("%s is flat: give dim (values per row)" % name)
        dim = shape[1]
    if dim <= 0 or count % dim:
        raise ValueError("%s holds %d values, not a whole number of rows of dim %d"
                         % (name, count, dim))
    return values, count // dim, dim


def energy_distance(a, b, dim=None):
    """Energy distance E = 2E‖A−B‖ − E‖A−A'‖ − E‖B−B'‖ (unbiased; can be
    slightly negative) between the rows of a and b. dim defaults to the
    second dimension of a 2-D a."""
    a_values, na, dim = _rows(a, "a", dim)
    b_values, nb, _ = _rows(b, "b", dim)
    out = ctypes.c_double()
    C.diffuse_energy_distance(a_values, na, b_values, nb, dim, ctypes.byref(out))
    return out.value


def sample_moments(x, dim=None, covariance=True):
    """(mean, covariance) of the rows of x in float64: mean has dim values,
    the unbiased covariance dim×dim (flat array('d') without numpy), or None
    with covariance=False."""
    values, n, dim = _rows(x, "x", dim)
    mean, mean_pointer = double_result(dim)
    cov, cov_pointer = double_result(dim * dim, (dim, dim)) if covariance else (None, None)
    C.diffuse_sample_moments(values, n, dim, mean_pointer, cov_pointer)
    return mean, cov
