"""Which files an archive input names, in which format each is read, and which are skipped and why.

`--input` is a file, a folder (its files, not its subfolders) or a glob. Each file's format is its own:
- Avro: a container file (its first bytes are `Obj\\x01`), whatever its name; a file named `*.avro`
  that is not one is still read as Avro, so it becomes a dead letter ("unreadable Avro file") rather
  than a skip, since it claims to hold records;
- JSON Lines: a name ending in `.jsonl`, `.json` or `.ndjson`;
- gzip (first bytes 1f 8b) is decompressed, and its content told apart the same way (`x.jsonl.gz`);
- anything else is skipped, as are hidden files (a name starting with "."), subfolders, broken
  symbolic links and links in a loop, and what is not a regular file (a pipe would block the read).
`--input-format` reads every file in one format instead. A file that cannot be opened, or a folder
that cannot be listed, stops the run before the job starts: a backfill must not skip data silently.
"""
from __future__ import annotations

import enum
import errno
import glob
import gzip
import os
import stat
import zlib
from typing import List, NamedTuple, Optional, Tuple

AVRO_MAGIC = b"Obj\x01"
GZIP_MAGIC = b"\x1f\x8b"
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_GLOB_CHARS = set("*?[")
_NOT_AN_ARCHIVE = "not an Avro container, and not named .jsonl, .json or .ndjson"


class RecordFormat(enum.Enum):
    JSONL = "jsonl"
    AVRO = "avro"


class InputFile(NamedTuple):
    path: str
    format: RecordFormat
    gzip: bool = False  # decompressed as it is read; not splittable


class SkippedFile(NamedTuple):
    path: str
    reason: str


class InputSelection(NamedTuple):
    files: Tuple[InputFile, ...]
    skipped: Tuple[SkippedFile, ...]


class InputError(ValueError):
    """The input cannot be read as asked; the message is the one line the user sees."""


def select_inputs(path: str, forced: Optional[RecordFormat] = None) -> InputSelection:
    """The files of `path` (a file, a folder or a glob) with their formats; raises InputError when one
    cannot be read or when none is left to read."""
    if os.path.isdir(path):
        what = "folder"
        try:
            names = sorted(os.listdir(path))
        except OSError as err:
            raise InputError(f"input folder {path!r} is not readable: {err.strerror}") from None
        candidates = [os.path.join(path, name) for name in names]
    elif _GLOB_CHARS & set(path) and not os.path.lexists(path):
        what, candidates = "glob", sorted(glob.glob(path))
    else:
        what, candidates = "file", [path] if os.path.lexists(path) else []
    files: List[InputFile] = []
    skipped: List[SkippedFile] = []
    for candidate in candidates:
        chosen = _choose(candidate, forced, in_folder=what == "folder")
        (files if isinstance(chosen, InputFile) else skipped).append(chosen)
    if not files:
        reason = f" ({len(skipped)} skipped; {skipped[0].path}: {skipped[0].reason})" if skipped else ""
        raise InputError(f"input {what} {path!r} has no files to read{reason}")
    return InputSelection(tuple(files), tuple(skipped))


def _choose(path: str, forced: Optional[RecordFormat], in_folder: bool):
    name = os.path.basename(path)
    if in_folder and name.startswith("."):
        return SkippedFile(path, "hidden file")
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        if err.errno == errno.ELOOP:
            return SkippedFile(path, "symbolic link loop")
        if err.errno == errno.ENOENT:
            return SkippedFile(path, "broken symbolic link")
        raise InputError(f"input file {path!r} is not readable: {err.strerror}") from None
    if stat.S_ISDIR(mode):
        return SkippedFile(path, "folder (folders are not read recursively)")
    if not stat.S_ISREG(mode):
        return SkippedFile(path, "not a regular file")
    try:
        with open(path, "rb") as fileobj:
            head = fileobj.read(len(AVRO_MAGIC))
            compressed = head.startswith(GZIP_MAGIC)
            if compressed:
                fileobj.seek(0)
                head = _decompressed_head(fileobj)
                name = name[:-3] if name.endswith(".gz") else name
    except OSError as err:
        raise InputError(f"input file {path!r} is not readable: {err.strerror}") from None
    if forced is not None:
        return InputFile(path, forced, compressed)
    if head == AVRO_MAGIC or name.endswith(".avro"):
        return InputFile(path, RecordFormat.AVRO, compressed)
    if name.endswith(JSONL_SUFFIXES):
        return InputFile(path, RecordFormat.JSONL, compressed)
    return SkippedFile(path, _NOT_AN_ARCHIVE + (" (gzip)" if compressed else ""))


def _decompressed_head(fileobj) -> bytes:
    """The first bytes of a gzip stream; empty when it cannot be decompressed (reading it will say why)."""
    try:
        with gzip.GzipFile(fileobj=fileobj) as stream:
            return stream.read(len(AVRO_MAGIC))
    except (OSError, EOFError, zlib.error):
        return b""
