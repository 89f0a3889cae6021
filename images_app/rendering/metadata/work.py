"""A count of the work one metadata rewrite did, so tests bound its cost without a clock."""

from __future__ import annotations


class Work:
    """Steps taken (blocks, chunks, boxes, IFD entries visited) and bytes copied or zeroed.

    Pass one to ``strip_metadata(..., work=Work())`` and read it afterwards; every rewrite
    must stay within a small multiple of the file's size in both.
    """

    def __init__(self) -> None:
        self.steps = 0
        self.copied = 0

    def step(self, count: int = 1) -> None:
        self.steps += count

    def copy(self, chunk: bytes | memoryview) -> bytes | memoryview:
        """``chunk``, counted as copied into the output."""
        self.copied += len(chunk)
        return chunk

    def spend(self, blocks: int = 1) -> None:
        """The isobmff walker's budget protocol: each box it visits is a step."""
        self.steps += blocks
