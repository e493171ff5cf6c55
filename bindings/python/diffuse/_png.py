"""PNG files for diffuse.plot: 8-bit grayscale or RGB.

With libpng 1.6 installed (Debian's libpng16-16, which the C examples link)
the file is written by its simplified write API, png_image_write_to_file,
the call of the C examples' writer (examples/common/png_writer.c), so the
same pixels give the same bytes as the C programs. Without it, zlib and
struct write an equivalent image (other bytes: no filters, level 9).

Either way the file is written to a temporary name next to `path` and
renamed over it once complete, so a reader never sees half an image.
"""

import ctypes
import ctypes.util
import os
import struct
import zlib

_FORMATS = {1: 0, 3: 2}  # channels → PNG_FORMAT_GRAY, PNG_FORMAT_RGB (PNG_FORMAT_FLAG_COLOR)
_COLOR_TYPES = {1: 0, 3: 2}  # channels → the IHDR colour type: grayscale, truecolour
_PNG_IMAGE_VERSION = 1


class _PngImage(ctypes.Structure):
    """png.h's png_image (a public, versioned structure)."""
    _fields_ = [("opaque", ctypes.c_void_p), ("version", ctypes.c_uint32),
                ("width", ctypes.c_uint32), ("height", ctypes.c_uint32),
                ("format", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("colormap_entries", ctypes.c_uint32), ("warning_or_error", ctypes.c_uint32),
                ("message", ctypes.c_char * 64)]


def _load_libpng():
    name = ctypes.util.find_library("png16") or "libpng16.so.16"
    try:
        libpng = ctypes.CDLL(name)
        write = libpng.png_image_write_to_file
    except (OSError, AttributeError):
        return None
    write.argtypes = [ctypes.POINTER(_PngImage), ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p,
                      ctypes.c_int32, ctypes.c_void_p]
    write.restype = ctypes.c_int
    return write


_WRITE_TO_FILE = _load_libpng()
HAVE_LIBPNG = _WRITE_TO_FILE is not None


def _check(width, height, pixels, channels):
    if channels not in _FORMATS:
        raise ValueError("channels must be 1 (gray) or 3 (RGB); got %r" % (channels,))
    if width <= 0 or height <= 0 or len(pixels) != channels * width * height:
        raise ValueError("pixels must hold %d·%d·%d bytes; got %d"
                         % (channels, width, height, len(pixels)))


def png_bytes(width, height, pixels, channels=3):
    """A PNG of width×height pixels (`channels` bytes a pixel: 3 RGB, 1 gray;
    rows top to bottom) as bytes, encoded by zlib (not libpng)."""
    _check(width, height, pixels, channels)
    stride = channels * width
    scanlines = b"".join(b"\0" + bytes(pixels[y * stride:(y + 1) * stride])
                         for y in range(height))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(scanlines, 9)) + chunk(b"IEND", b""))


def _write_with_libpng(path, width, height, pixels, channels):
    image = _PngImage(version=_PNG_IMAGE_VERSION, width=width, height=height,
                      format=_FORMATS[channels])
    data = (ctypes.c_uint8 * len(pixels)).from_buffer_copy(bytes(pixels))
    if not _WRITE_TO_FILE(ctypes.byref(image), os.fsencode(path), 0, data, 0, None):
        raise OSError("libpng could not write %s: %s"
                      % (path, image.message.decode("utf-8", "replace")))


def write_png(path, width, height, pixels, channels=3, use_libpng=True):
    """Writes the image (as png_bytes() describes it) to `path` atomically:
    by libpng when it is installed and `use_libpng`, else png_bytes()."""
    _check(width, height, pixels, channels)
    temporary = "%s.tmp%d" % (path, os.getpid())
    try:
        if use_libpng and HAVE_LIBPNG:
            _write_with_libpng(temporary, width, height, pixels, channels)
        else:
            with open(temporary, "wb") as stream:
                stream.write(png_bytes(width, height, pixels, channels))
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
