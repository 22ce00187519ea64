"""Reading ``.npz`` and ``.npy`` files that come from elsewhere (saved models, ``--args``).

Nothing in them is trusted: they are never unpickled (only hyc's five dtypes load), each
array's header is read and checked — its dtype, its shape against what the caller expects,
its byte count against the size the file or archive declares — before any of its data is,
and the data is read up to that declared size and no further, so a damaged or hostile file
(a zip bomb, a header claiming 10^12 elements) costs at most what the archive declares.
Fortran-ordered arrays load as C-ordered copies.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import IO

import numpy as np

from hyc.ir import HycError

# what zipfile and zlib raise for a damaged or unusual archive
_DAMAGED = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, RuntimeError,
            NotImplementedError, KeyError, zlib.error, struct.error, UnicodeDecodeError)

DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_))

# (name, dtype, shape) -> why the array does not fit, or None
Check = Callable[[str, np.dtype, tuple[int, ...]], "str | None"]


def read_npz(path: str, check: Check | None = None) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` archive."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, *_DAMAGED) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "not an .npz (zip) archive"
        raise HycError(f"cannot load '{path}': {reason}", code="E0001") from None
    arrays: dict[str, np.ndarray] = {}
    with archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            if not info.filename.endswith(".npy") or name in arrays:
                raise HycError(f"cannot load '{path}': its member '{info.filename}' is not one "
                               "named array (.npy)", code="E0003")
            try:
                with archive.open(info) as member:
                    arrays[name] = _read(member, info.file_size, path, name, check)
            except (OSError, *_DAMAGED) as e:
                raise HycError(f"cannot load '{path}': '{name}' is damaged ({e})", code="E0003") from None
    return arrays


def read_npy(path: str, check: Check | None = None, name: str = "") -> np.ndarray:
    """The array of an ``.npy`` file."""
    try:
        with open(path, "rb") as f:
            return _read(f, os.fstat(f.fileno()).st_size, path, name, check)
    except OSError as e:
        raise HycError(f"cannot load '{path}': {e.strerror or e}", code="E0001") from None
    except (EOFError, ValueError) as e:
        raise HycError(f"cannot load '{path}': not an .npy array ({e})", code="E0003") from None


def _read(f: IO[bytes], declared: int, path: str, name: str, check: Check | None) -> np.ndarray:
    what = f"{path}: '{name}'" if name else path
    shape, fortran, dtype = _header(f, what)
    if dtype not in DTYPES:
        raise HycError(f"{what} is a {dtype} array; hyc reads only "
                       f"{', '.join(str(d) for d in DTYPES)} (never pickled objects)", code="E0004")
    if check is not None and (problem := check(name, dtype, shape)) is not None:
        raise HycError(f"{path}: {problem}", code="E0006")
    count = 1
    for size in shape:
        count *= size
    nbytes = count * dtype.itemsize
    if f.tell() + nbytes != declared:
        raise HycError(f"{what}: its header claims {shape} ({nbytes} bytes of data), but the "
                       f"file holds {max(declared - f.tell(), 0)}", code="E0003")
    data = bytearray(nbytes)
    view, done = memoryview(data), 0
    while done < nbytes:
        got = f.readinto(view[done:done + (1 << 24)])  # type: ignore[attr-defined]
        if not got:
            raise HycError(f"{what}: the data ends after {done} of {nbytes} bytes", code="E0003")
        done += got
    array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
    return np.ascontiguousarray(array)


def _header(f: IO[bytes], what: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    from numpy.lib import format as npy
    try:
        version = npy.read_magic(f)
        if version == (1, 0):
            return npy.read_array_header_1_0(f)
        if version == (2, 0):
            return npy.read_array_header_2_0(f)
    except (ValueError, SyntaxError, TypeError) as e:
        raise HycError(f"cannot load {what}: not an .npy array ({e})", code="E0003") from None
    raise HycError(f"cannot load {what}: .npy format version {version} is not supported", code="E0003")
