"""EXIF blocks laid out as we choose: linked sub-IFDs, chains of IFDs, values anywhere.

    exif = tiff(">", Ifd({0x0112: 6, 0x8769: Ifd({0x8825: gps()})}, next=Ifd({...})))

Values: ``int`` is a SHORT, ``Long(n)`` a LONG, ``str`` ASCII, ``bytes`` UNDEFINED,
``Typed(kind, bytes)`` raw bytes of any type, ``Rationals(...)`` RATIONALs, an ``Ifd`` a
pointer to it (LONG), a list of ``Ifd`` a SubIFDs-style array of pointers, ``Placed(f)``
the bytes ``f(offset)`` returns for the offset they land at (maker notes with their own
offsets), ``OffsetOf(bytes)`` a LONG holding where those bytes were placed (thumbnails).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass


class Ifd(dict):
    def __init__(self, entries: dict | None = None, next: Ifd | None = None) -> None:
        super().__init__(entries or {})
        self.next = next


@dataclass(frozen=True)
class Long:
    value: int


@dataclass(frozen=True)
class Typed:
    kind: int
    data: bytes
    count: int | None = None  # default: the length of data in units of 1


@dataclass(frozen=True)
class Rationals:
    values: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Placed:
    make: Callable[[int], bytes]


@dataclass(frozen=True)
class OffsetOf:
    data: bytes


def tiff(order: str, ifd0: Ifd) -> bytes:
    """A TIFF block (no "Exif\\0\\0"), IFD0 at offset 8."""
    return bytes(_Writer(order).block(ifd0))


def exif_app1_payload(order: str, ifd0: Ifd) -> bytes:
    return b"Exif\x00\x00" + tiff(order, ifd0)


def gps(latitude=((12, 1), (22, 1), (1714, 100)), longitude=((1, 1), (31, 1), (1097, 100))):
    """A GPS IFD for a place: Ouagadougou by default."""
    return Ifd(
        {
            0x0001: "N",
            0x0002: Rationals(latitude),
            0x0003: "W",
            0x0004: Rationals(longitude),
            0x001C: Typed(7, b"ASCII\0\0\0Ouagadougou"),  # GPSAreaInformation
        }
    )


def latitude_bytes(order: str, latitude=((12, 1), (22, 1), (1714, 100))) -> bytes:
    return struct.pack(order + "6I", *(part for pair in latitude for part in pair))


class _Writer:
    def __init__(self, order: str) -> None:
        self.order = order
        magic = b"II*\x00" if order == "<" else b"MM\x00*"
        self.out = bytearray(magic + struct.pack(order + "I", 8))

    def block(self, ifd0: Ifd) -> bytearray:
        self.place(ifd0)
        return self.out

    def place(self, ifd: Ifd) -> int:
        at, entries = len(self.out), sorted(ifd.items())
        self.out += bytes(2 + 12 * len(entries) + 4)
        rows = b"".join(self._entry(tag, value) for tag, value in entries)
        following = self.place(ifd.next) if ifd.next is not None else 0
        table = struct.pack(self.order + "H", len(entries)) + rows
        self.out[at : at + len(table) + 4] = table + struct.pack(self.order + "I", following)
        return at

    def _entry(self, tag: int, value) -> bytes:
        if isinstance(value, Placed):  # more than 4 bytes, where they land
            at = len(self.out)
            data = value.make(at)
            self._blob(data)
            return struct.pack(self.order + "HHII", tag, 7, len(data), at)
        kind, count, data = self._encode(value)
        if len(data) <= 4:
            field = data.ljust(4, b"\x00")
        else:
            field = struct.pack(self.order + "I", self._blob(data))
        return struct.pack(self.order + "HHI", tag, kind, count) + field

    def _encode(self, value) -> tuple[int, int, bytes]:
        o = self.order
        if isinstance(value, Ifd):
            return 4, 1, struct.pack(o + "I", self.place(value))
        if isinstance(value, list):
            offsets = [self.place(ifd) for ifd in value]
            return 4, len(offsets), struct.pack(o + f"{len(offsets)}I", *offsets)
        if isinstance(value, bool | int):
            return 3, 1, struct.pack(o + "H", value)
        if isinstance(value, Long):
            return 4, 1, struct.pack(o + "I", value.value)
        if isinstance(value, str):
            data = value.encode() + b"\x00"
            return 2, len(data), data
        if isinstance(value, bytes):
            return 7, len(value), value
        if isinstance(value, Typed):
            return value.kind, value.count or len(value.data), value.data
        if isinstance(value, Rationals):
            flat = [part for pair in value.values for part in pair]
            return 5, len(value.values), struct.pack(o + f"{len(flat)}I", *flat)
        if isinstance(value, OffsetOf):
            return 4, 1, struct.pack(o + "I", self._blob(value.data))
        raise TypeError(f"no TIFF encoding for {value!r}")

    def _blob(self, data: bytes) -> int:
        at = len(self.out)
        self.out += data + b"\x00" * (len(data) & 1)
        return at
