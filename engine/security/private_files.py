"""Local files that only their owner may read: the data directory and what wfconsole keeps there.

The SQLite database and its ``-wal``/``-shm``/``-journal`` files, the local queue file and
its siblings, the key files, backups and the console's log hold trigger data, workflow
definitions, encrypted secrets and the keys that open them. Under the usual umask 022 a
plain ``open()`` or ``mkdir()`` would make them readable by every local user, so every
place that creates one goes through this module:

- a directory wfconsole creates (and each missing parent it creates on the way) is 0700;
- a file wfconsole creates is 0600. SQLite gives ``-wal``, ``-shm`` and ``-journal`` the
  mode of the database file, so the database file is created 0600 *before* SQLite opens
  it (``ensure_private_sqlite``);
- an existing file of ours that group or others may access (made by an older version)
  is tightened to 0600 when it is opened, with one warning line the first time;
- an existing directory is never changed: the user chose it. The one exception is
  wfconsole's own data directory (``engine.config.data_dir()``), which is tightened to
  0700 when a path inside it is prepared.

Files and directories owned by another user are left as they are. On platforms without
POSIX modes this only creates what is missing.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from engine.config import data_dir

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_SIBLINGS = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside a database (WAL, shared memory, rollback journal)."""

log = logging.getLogger("wfconsole.files")
_POSIX = os.name == "posix"
_warned: set[str] = set()


def ensure_private_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` as a directory, created 0700 (with any missing parents) when absent.

    An existing directory is left as it is, except wfconsole's own data directory.
    """
    target = Path(path).expanduser()
    missing: list[Path] = []
    probe = target
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # another process made it at the same moment
            continue
        if _POSIX:
            os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    if not target.is_dir():  # a file in the way: say so as mkdir would
        raise FileExistsError(f"{target} exists and is not a directory")
    _tighten_data_dir(target)
    return target


def ensure_private_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a file only its owner may read: created empty with mode 0600 when
    absent (its directory through ``ensure_private_dir``), tightened when it is ours."""
    target = Path(path).expanduser()
    ensure_private_dir(target.parent)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        tighten(target)
    else:
        if _POSIX:
            os.fchmod(fd, PRIVATE_FILE_MODE)  # a umask such as 0o277 must not leave it read-only
        os.close(fd)
    return target


def ensure_private_sqlite(path: str | os.PathLike[str]) -> Path:
    """A SQLite database file, created 0600 before SQLite opens it, so the ``-wal``,
    ``-shm`` and ``-journal`` files SQLite makes later get 0600 too; existing ones of
    ours are tightened (an older version may have left them 0644)."""
    target = ensure_private_file(path)
    for suffix in SQLITE_SIBLINGS:
        tighten(target.with_name(target.name + suffix))
    return target


def tighten(path: str | os.PathLike[str]) -> bool:
    """Take group and other access away from an existing file of ours; True if it changed.

    Missing files, files of other users and anything but regular files are left alone.
    """
    if not _POSIX:
        return False
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    return _restrict(Path(path), info, PRIVATE_FILE_MODE)


def _tighten_data_dir(target: Path) -> None:
    if not _POSIX:
        return
    own = data_dir()
    if target != own and own not in target.parents:
        return
    try:
        info = os.stat(own)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        _restrict(own, info, PRIVATE_DIR_MODE)


def _restrict(path: Path, info: os.stat_result, private_mode: int) -> bool:
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077 or info.st_uid != os.geteuid():
        return False
    new_mode = mode & 0o700 | private_mode
    try:
        os.chmod(path, new_mode)
    except OSError as exc:  # a read-only mount, say: keep going, but say so (once)
        _warn_once(path, "%s is accessible to other users (mode %o) and could not be "
                   "restricted: %s", path, mode, exc.strerror)  # fmt: skip
        return False
    _warn_once(path, "%s was accessible to other users (mode %o): restricted to its owner (%o)",
               path, mode, new_mode)  # fmt: skip
    return True


def _warn_once(path: Path, message: str, *args: object) -> None:
    key = str(path)
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "ensure_private_dir",
    "ensure_private_file",
    "ensure_private_sqlite",
    "tighten",
]
