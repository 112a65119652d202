"""Just enough of an ELF reader for the build: which shared libraries a binary links
(DT_NEEDED), whether it carries a search path of its own (DT_RPATH/DT_RUNPATH) and whether
it carries debug sections.

build.spec uses it to keep only the libraries that what the bundle keeps actually links,
and packaging/bundle_check.py to prove the built folder is complete. Reading the headers
directly (rather than running `ldd`) answers from the file alone, the same on any build
host: `ldd` resolves against whatever the host has installed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_SHT_DYNAMIC = 6
_DT_NEEDED, _DT_RPATH, _DT_RUNPATH = 1, 15, 29


@dataclass(frozen=True)
class ElfInfo:
    needed: tuple[str, ...]  # sonames it links, in order
    search_path: str  # DT_RUNPATH or DT_RPATH ("" when none)
    debug_sections: int  # bytes of .debug_* sections (what `strip --strip-debug` removes)


def is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def read(path: Path) -> ElfInfo:
    """The dynamic section of a 64- or 32-bit, little- or big-endian ELF file."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{path}: not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        (shoff,) = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
        section = end + "IIQQQQIIQQ"  # name type flags addr offset size link info align entsize
        dyn_entry = end + "qQ"
    else:
        (shoff,) = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x2E)
        section = end + "IIIIIIIIII"
        dyn_entry = end + "iI"
    sections = [struct.unpack_from(section, data, shoff + i * shentsize) for i in range(shnum)]
    if not sections:
        return ElfInfo((), "", 0)

    def string(table: int, offset: int) -> str:
        start = sections[table][4] + offset
        return data[start : data.index(b"\0", start)].decode()

    debug = sum(s[5] for s in sections if string(shstrndx, s[0]).startswith(".debug_"))
    needed: list[str] = []
    search_path = ""
    for s in sections:
        if s[1] != _SHT_DYNAMIC:
            continue
        step = struct.calcsize(dyn_entry)
        for pos in range(s[4], s[4] + s[5], step):
            tag, value = struct.unpack_from(dyn_entry, data, pos)
            if tag == 0:
                break
            if tag == _DT_NEEDED:
                needed.append(string(s[6], value))
            elif tag in (_DT_RPATH, _DT_RUNPATH):
                search_path = string(s[6], value)
    return ElfInfo(tuple(needed), search_path, debug)
