"""A minimal writer of Microsoft compound files (CFB v3: what .msg, .xls and HWP 5 files are), for test fixtures.

extract-msg, xlrd and olefile only read; this writes the storages and streams a test names, with
the mini stream for small streams as [MS-CFB] requires, so the fixtures are built at test time
instead of committed as binaries. Siblings are chained as an all-black tree, which readers accept.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass, field

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF

Tree = dict[str, "bytes | Tree"]


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[int] = field(default_factory=list)
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    start: int = END
    size: int = 0


def _key(name: str) -> tuple[int, str]:
    return (len(name), name.upper())


def write_cfb(tree: Tree) -> bytes:
    """A compound file holding ``tree``: a dict of stream names to bytes and storage names to dicts."""
    entries = [_Entry("Root Entry", 5)]

    def add(parent: int, items: Tree) -> None:
        for name, value in items.items():
            index = len(entries)
            if isinstance(value, dict):
                entries.append(_Entry(name, 1))
                add(index, value)
            else:
                entries.append(_Entry(name, 2, data=value, size=len(value)))
            entries[parent].children.append(index)

    add(0, tree)
    for entry in entries:
        ordered = sorted(entry.children, key=lambda i: _key(entries[i].name))
        if ordered:
            entry.child = ordered[0]
            for a, b in itertools.pairwise(ordered):
                entries[a].right = b

    fat: list[int] = []
    sectors: list[bytes] = []

    def place(data: bytes) -> int:
        count = max(1, math.ceil(len(data) / SECTOR))
        first = len(sectors)
        for i in range(count):
            sectors.append(data[i * SECTOR : (i + 1) * SECTOR].ljust(SECTOR, b"\0"))
            fat.append(first + i + 1 if i < count - 1 else END)
        return first

    mini_stream = bytearray()
    mini_fat: list[int] = []
    for entry in entries:
        if entry.kind != 2 or not entry.data:
            continue
        if entry.size < MINI_CUTOFF:
            count = math.ceil(entry.size / MINI_SECTOR)
            first = len(mini_fat)
            for i in range(count):
                mini_fat.append(first + i + 1 if i < count - 1 else END)
            mini_stream += entry.data.ljust(count * MINI_SECTOR, b"\0")
            entry.start = first
        else:
            entry.start = place(entry.data)
    root = entries[0]
    if mini_stream:
        root.start, root.size = place(bytes(mini_stream)), len(mini_stream)
    mini_fat_start = place(b"".join(struct.pack("<I", v) for v in mini_fat)) if mini_fat else END
    mini_fat_sectors = math.ceil(len(mini_fat) * 4 / SECTOR) if mini_fat else 0

    directory = bytearray()
    for entry in entries:
        name = entry.name.encode("utf-16-le") + b"\0\0"
        directory += struct.pack(
            "<64sHBBIII16sIQQIQ",
            name.ljust(64, b"\0"),
            len(name),
            entry.kind,
            1,
            entry.left,
            entry.right,
            entry.child,
            b"\0" * 16,
            0,
            0,
            0,
            entry.start if entry.kind != 1 else 0,
            entry.size,
        )
    directory += b"\0" * (-len(directory) % SECTOR)
    # Unused directory slots must read as free entries (no name, siblings NOSTREAM).
    used = len(entries) * 128
    for offset in range(used, len(directory), 128):
        directory[offset + 68 : offset + 80] = struct.pack("<III", NOSTREAM, NOSTREAM, NOSTREAM)
    directory_start = place(bytes(directory))

    fat_count = 1
    while math.ceil((len(sectors) + fat_count) * 4 / SECTOR) > fat_count:
        fat_count += 1
    fat_first = len(sectors)
    fat.extend([FATSECT] * fat_count)
    table = b"".join(struct.pack("<I", v) for v in fat).ljust(fat_count * SECTOR, b"\xff")
    for i in range(fat_count):
        sectors.append(table[i * SECTOR : (i + 1) * SECTOR])
    if fat_count > 109:
        raise ValueError("fixture too large for a header-only DIFAT")
    difat = [fat_first + i for i in range(fat_count)] + [FREE] * (109 - fat_count)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        b"\0" * 16,
        0x003E,
        0x0003,
        0xFFFE,
        9,
        6,
        b"\0" * 6,
        0,
        fat_count,
        directory_start,
        0,
        MINI_CUTOFF,
        mini_fat_start,
        mini_fat_sectors,
        END,
        0,
    ) + b"".join(struct.pack("<I", v) for v in difat)
    return header + b"".join(sectors)
