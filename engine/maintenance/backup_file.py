"""The backup file format: a header, the payload, and a trailer that proves it is whole.

    WFCONSOLE-BACKUP 1 <kind>\\n        kind: "postgresql" (a pg_dump custom archive)
    <payload bytes>                     or "sqlite" (a zlib-compressed database file)
    \\nWFCONSOLE-END <20-digit length> <64 hex SHA-256 of the payload>\\n

A file that lacks the header is not a backup; one whose trailer is missing, or whose
length or checksum disagrees, was truncated or damaged. Both are refused before anything
is restored.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAGIC = b"WFCONSOLE-BACKUP 1 "
KINDS = ("postgresql", "sqlite")
TRAILER = re.compile(rb"\nWFCONSOLE-END (\d{20}) ([0-9a-f]{64})\n\Z")
TRAILER_SIZE = len(b"\nWFCONSOLE-END ") + 20 + 1 + 64 + 1
CHUNK = 1 << 20


class BackupFileError(Exception):
    """The file is missing, not a backup, truncated or damaged (the message says which)."""


@dataclass(frozen=True)
class BackupInfo:
    """What a verified backup file holds."""

    path: Path
    kind: str
    payload_offset: int
    payload_size: int


class BackupWriter:
    """Writes header, payload chunks and trailer; hashes as it goes."""

    def __init__(self, out: BinaryIO, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown backup kind {kind!r}")
        self.out = out
        self.size = 0
        self.digest = hashlib.sha256()
        out.write(MAGIC + kind.encode() + b"\n")

    def write(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.size += len(chunk)
        self.digest.update(chunk)

    def close(self) -> None:
        self.out.write(
            b"\nWFCONSOLE-END %020d %s\n" % (self.size, self.digest.hexdigest().encode())
        )
        self.out.flush()
        os.fsync(self.out.fileno())


def verify(path: Path) -> BackupInfo:
    """Check ``path`` end to end (header, length, checksum) without restoring anything."""
    if not path.is_file():
        raise BackupFileError(f"{path}: no such backup file")
    total = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.readline(64)
        if not header.startswith(MAGIC) or not header.endswith(b"\n"):
            raise BackupFileError(f"{path}: not a wfconsole backup (no backup header)")
        kind = header[len(MAGIC) : -1].decode(errors="replace")
        if kind not in KINDS:
            raise BackupFileError(f"{path}: unknown backup kind {kind!r}")
        offset = len(header)
        if total < offset + TRAILER_SIZE:
            raise BackupFileError(f"{path}: truncated (the end marker is missing)")
        handle.seek(total - TRAILER_SIZE)
        match = TRAILER.match(handle.read(TRAILER_SIZE))
        if match is None:
            raise BackupFileError(f"{path}: truncated or damaged (the end marker is missing)")
        size, expected = int(match.group(1)), match.group(2).decode()
        if size != total - offset - TRAILER_SIZE:
            raise BackupFileError(f"{path}: truncated or damaged (length does not match)")
        digest = hashlib.sha256()
        for chunk in _chunks(handle, offset, size):
            digest.update(chunk)
        if digest.hexdigest() != expected:
            raise BackupFileError(f"{path}: damaged (checksum does not match)")
    return BackupInfo(path, kind, offset, size)


def payload(info: BackupInfo) -> Iterator[bytes]:
    """The payload of a verified backup, in chunks."""
    with info.path.open("rb") as handle:
        yield from _chunks(handle, info.payload_offset, info.payload_size)


def _chunks(handle: BinaryIO, offset: int, size: int) -> Iterator[bytes]:
    handle.seek(offset)
    left = size
    while left:
        chunk = handle.read(min(CHUNK, left))
        if not chunk:
            raise BackupFileError(f"{handle.name}: truncated while reading")
        left -= len(chunk)
        yield chunk
