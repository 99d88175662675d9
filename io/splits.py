"""Byte ranges of archive files, so a backfill reads one file on several workers at once.

A split `[start, end)` of a file owns the Avro blocks, or the lines, that begin inside it: every block
or line of a file belongs to exactly one of its splits, whatever the boundaries, the way Hadoop and
Beam split text and Avro files. Avro blocks begin after a sync marker, found by scanning from `start`.
A gzip file is one split: a compressed stream cannot be entered in the middle.
"""
from __future__ import annotations

import os
from typing import BinaryIO, Iterable, List, NamedTuple

from kappa.io.input_files import InputFile

_SCAN_BYTES = 64 * 1024
SPLIT_BYTES = 1 << 20  # a few thousand Avro blocks of orders: ~100,000 records


class FileSplit(NamedTuple):
    file: InputFile
    start: int
    end: int  # exclusive

    @property
    def path(self) -> str:
        return self.file.path

    @property
    def first(self) -> bool:
        """The split that reads the file's header, and so reports a file that cannot be read at all."""
        return self.start == 0


def plan_splits(files: Iterable[InputFile], split_bytes: int) -> List[FileSplit]:
    """Each file cut into ranges of about `split_bytes` (smaller files and gzip files stay whole)."""
    if split_bytes <= 0:
        raise ValueError(f"split size must be positive, got {split_bytes}")
    splits: List[FileSplit] = []
    for file in files:
        size = os.path.getsize(file.path)
        count = 1 if file.gzip else max(1, size // split_bytes)
        bounds = [size * i // count for i in range(count + 1)]
        splits.extend(FileSplit(file, start, end) for start, end in zip(bounds, bounds[1:]))
    return splits


def seek_past_sync(fileobj: BinaryIO, sync: bytes, start: int) -> bool:
    """Moves to the first block that begins at or after `start`; False when there is none.

    A block begins right after a sync marker, so the scan starts one marker's length before `start`:
    a marker ending exactly at `start` means the block at `start` is this split's.
    """
    position = max(0, start - len(sync))
    fileobj.seek(position)
    carried = b""
    while True:
        chunk = fileobj.read(_SCAN_BYTES)
        if not chunk:
            return False
        window = carried + chunk
        found = window.find(sync)
        if found >= 0:
            fileobj.seek(position - len(carried) + found + len(sync))
            return True
        carried = window[-(len(sync) - 1):]
        position += len(chunk)
