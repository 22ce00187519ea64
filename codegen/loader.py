"""A loader of the JIT's object files into this process, for x86-64 ELF (Linux): each object
in one mapping of its own, unmapped when the last thing that calls its code is gone.

LLVM's ORC JIT links them too, but keeps a library (``JITDylib``) per linked object for the
life of the process, even once its code is freed: about 9 KiB of LLVM's tables per compiled
module. The JIT's objects need little of a linker: the target machine uses the large code
model (``jitdefault``), so code refers to anything outside its own section through 64-bit
absolute addresses (``R_X86_64_64``), and only the unwind tables (``.eh_frame``, which hyc's
code never needs: nothing unwinds through it) use relative ones. So this loader lays out the
allocated sections (code, read-only data, writable data), fills in the relocations, and maps
the code executable and not writable (W^X). Anything else an object holds (another
relocation, TLS, a common symbol) is refused with ``Unsupported``, and the JIT falls back to
ORC for it, as it does on other machines.

The objects come from hyc's own compiles or from its disk cache (digest-checked); still,
every offset and size is checked against the file before it is used.
"""

from __future__ import annotations

import ctypes
import functools
import platform
import struct
import sys
import weakref
from collections.abc import Callable, Mapping

from hyc.record import record

PAGE = 4096
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS = 1, 2, 3, 4, 8
SHT_X86_64_UNWIND = 0x70000001
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
STT_TLS = 6
R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32, R_X86_64_PC64 = 1, 2, 4, 24
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20


class Unsupported(ValueError):
    """An object this loader does not take (ORC links it instead), or a malformed one."""


@functools.cache
def supported() -> bool:
    """Whether this process can load objects itself: 64-bit x86 Linux."""
    return sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64") \
        and _libc() is not None


@record
class _Section:
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    align: int
    link: int
    info: int
    address: int = 0  # where it is loaded (0: not loaded)


class LoadedObject:
    """An object's code and data in this process: ``address(name)`` of what it defines,
    valid while this object lives."""

    def __init__(self, base: int, size: int, symbols: dict[str, int]) -> None:
        self.base, self.size, self.symbols = base, size, symbols
        self._free = weakref.finalize(self, _unmap, base, size)
        # not at exit: the pool's sleeping workers and the SIGINT hook run the runtime's code
        # until the process is gone
        self._free.atexit = False

    def __getitem__(self, name: str) -> int:
        return self.symbols.get(name, 0)


def load(obj: bytes, resolve: Callable[[str], int]) -> LoadedObject:
    """Map ``obj`` into this process, its undefined symbols at ``resolve(name)`` (0: unknown,
    refused)."""
    data = memoryview(obj)
    sections = _sections(data)
    loaded = [s for s in sections if s.flags & SHF_ALLOC and s.type != SHT_X86_64_UNWIND
              and s.name != ".eh_frame"]
    for s in loaded:
        if s.type not in (SHT_PROGBITS, SHT_NOBITS):
            raise Unsupported(f"section {s.name} of type {s.type:#x}")
    # code, then read-only data, then writable data, each group on pages of its own
    groups = [[s for s in loaded if s.flags & SHF_EXECINSTR],
              [s for s in loaded if not s.flags & (SHF_EXECINSTR | SHF_WRITE)],
              [s for s in loaded if s.flags & SHF_WRITE and not s.flags & SHF_EXECINSTR]]
    layout, end = [], 0
    for group in groups:
        start = end
        for s in group:
            end = _align(end, max(s.align, 1))
            s.address = end  # relative to the base, for now
            end += s.size
        end = _align(end, PAGE)
        layout.append((start, end))
    if end > 1 << 30:
        raise Unsupported("sections of more than 1 GiB")
    size = max(end, PAGE)
    base = _map(size)
    try:
        for s in loaded:
            s.address += base
            if s.type == SHT_PROGBITS and s.size:
                ctypes.memmove(s.address, bytes(data[s.offset:s.offset + s.size]), s.size)
        symbols, exported = _symbols(data, sections, resolve)
        for rela in sections:
            if rela.type == SHT_RELA and 0 < rela.info < len(sections) \
                    and sections[rela.info].address:
                _relocate(data, rela, sections[rela.info], symbols)
        for (start, stop), prot in zip(layout, (PROT_READ | PROT_EXEC, PROT_READ,
                                                PROT_READ | PROT_WRITE)):
            if stop > start and _c().mprotect(ctypes.c_void_p(base + start), stop - start, prot):
                raise OSError(ctypes.get_errno(), "mprotect failed")
    except BaseException:
        _unmap(base, size)
        raise
    return LoadedObject(base, size, exported)


# -- reading the ELF file ----------------------------------------------------------------------
def _field(data: memoryview, fmt: str, offset: int) -> tuple:
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise Unsupported("object file truncated")
    return struct.unpack_from(fmt, data, offset)


def _sections(data: memoryview) -> list[_Section]:
    ident = bytes(data[:16])
    if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
        raise Unsupported("not a 64-bit little-endian ELF object")
    e_type, machine = _field(data, "<HH", 16)
    if e_type != 1 or machine != 62:
        raise Unsupported("not a relocatable x86-64 object")
    (shoff,) = _field(data, "<Q", 40)
    shentsize, shnum, shstrndx = _field(data, "<HHH", 58)
    if shentsize != 64 or not 0 < shnum < 1 << 15 or shstrndx >= shnum:
        raise Unsupported("bad section table")
    sections, name_offsets = [], []
    for index in range(shnum):
        name, type_, flags, _, offset, size, link, info, align, _ = \
            _field(data, "<IIQQQQIIQQ", shoff + 64 * index)
        if type_ != SHT_NOBITS and offset + size > len(data) or size >= 1 << 30 \
                or align > PAGE or align & (align - 1):
            raise Unsupported(f"section {index} out of bounds")
        sections.append(_Section(index, "", type_, flags, offset, size, max(align, 1), link,
                                 info))
        name_offsets.append(name)
    for s, name in zip(sections, name_offsets):  # (the names' table may come later)
        s.name = _string(data, sections[shstrndx], name)
    return sections


def _string(data: memoryview, table: _Section, offset: int) -> str:
    if table.type != SHT_STRTAB or offset >= table.size:
        raise Unsupported("bad string table")
    start = table.offset + offset
    stop = bytes(data[start:table.offset + table.size]).find(b"\0")
    if stop < 0:
        raise Unsupported("unterminated string")
    return bytes(data[start:start + stop]).decode("utf-8", "replace")


def _symbols(data: memoryview, sections: list[_Section],
             resolve: Callable[[str], int]) -> tuple[list[int | None], dict[str, int]]:
    """Every symbol's address (by index) and the global ones defined here, by name."""
    tables = [s for s in sections if s.type == SHT_SYMTAB]
    if len(tables) != 1 or tables[0].link >= len(sections):
        raise Unsupported("no symbol table")
    table = tables[0]
    strings = sections[table.link]
    addresses: list[int | None] = []
    exported: dict[str, int] = {}
    for index in range(table.size // 24):
        name_offset, info, _, shndx, value, _ = _field(data, "<IBBHQQ", table.offset + 24 * index)
        name = _string(data, strings, name_offset) if name_offset else ""
        if info & 0xF == STT_TLS or shndx == SHN_COMMON:
            raise Unsupported(f"symbol {name}: thread-local or common")
        address: int | None
        if shndx == SHN_UNDEF:
            address = resolve(name) if name else 0
            if name and not address:
                raise Unsupported(f"undefined symbol {name}")
        elif shndx == SHN_ABS:
            address = value
        elif shndx < len(sections):  # None: in a section not loaded (the unwind tables)
            address = sections[shndx].address + value if sections[shndx].address else None
        else:
            raise Unsupported(f"symbol {name} in section {shndx}")
        addresses.append(address)
        if info >> 4 != 0 and shndx != SHN_UNDEF and name and address is not None:
            exported[name] = address  # global or weak, defined here
    return addresses, exported


def _relocate(data: memoryview, rela: _Section, target: _Section,
              symbols: list[int | None]) -> None:
    for index in range(rela.size // 24):
        offset, info, addend = _field(data, "<QQq", rela.offset + 24 * index)
        symbol, kind = info >> 32, info & 0xFFFFFFFF
        width = 4 if kind in (R_X86_64_PC32, R_X86_64_PLT32) else 8
        if symbol >= len(symbols) or offset + width > target.size:
            raise Unsupported(f"relocation {index} of {rela.name} out of bounds")
        address = symbols[symbol]
        if address is None:
            raise Unsupported(f"relocation {index} of {rela.name}: a section not loaded")
        place = target.address + offset
        value = address + addend
        if kind == R_X86_64_64:
            ctypes.c_uint64.from_address(place).value = value & (1 << 64) - 1
        elif kind == R_X86_64_PC64:
            ctypes.c_uint64.from_address(place).value = (value - place) & (1 << 64) - 1
        elif kind in (R_X86_64_PC32, R_X86_64_PLT32):
            relative = value - place
            if not -(1 << 31) <= relative < 1 << 31:
                raise Unsupported("a 32-bit relative relocation out of range")
            ctypes.c_int32.from_address(place).value = relative
        else:
            raise Unsupported(f"relocation type {kind}")


# -- memory --------------------------------------------------------------------------------------
def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The process's C library with the prototypes of mmap, mprotect and munmap."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


def _c() -> ctypes.CDLL:
    libc = _libc()
    assert libc is not None, "loader.supported() said no"
    return libc


def _map(size: int) -> int:
    address = _c().mmap(None, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if address in (None, ctypes.c_void_p(-1).value):
        raise MemoryError(f"mmap of {size} bytes failed")
    return address


def _unmap(base: int, size: int) -> None:
    _c().munmap(ctypes.c_void_p(base), size)


def process_symbol(name: str, extra: Mapping[str, int] = {}) -> int:
    """A symbol's address: hyc's runtime (``extra``), or the process's libraries (the C and
    math libraries among them); 0 when none has it."""
    if name in extra:
        return extra[name]
    for library in _process_libraries():
        try:  # by dlsym (indexing), never an attribute of the library object
            return ctypes.cast(library[name], ctypes.c_void_p).value or 0
        except (AttributeError, ValueError):
            continue
    return 0


@functools.cache
def _process_libraries() -> list[ctypes.CDLL]:
    found = [_c()]  # the program and what it loaded globally
    for name in ("libm.so.6", "libpthread.so.0"):  # glibc's, should Python lack them
        try:
            found.append(ctypes.CDLL(name))
        except OSError:
            pass
    return found
