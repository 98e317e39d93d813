"""Folders and files that only citebot's own user may open: 0700 and 0600,
whatever the umask of the process (security.md, "Files and logs").

The database holds every field of every fiche and a copy of every mail; the
raw messages and documents are the porteurs' own. A umask of 022, the usual
one, would leave them readable by every account of the machine. Modes are
therefore set explicitly rather than left to the umask: a mode given to
mkdir() or open() is only ever narrowed by the umask, and chmod() is not
masked at all.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600

log = logging.getLogger(__name__)


def private_dir(path: Path, *, tighten: bool = False) -> Path:
    """Create `path` and its missing parents, each 0700. With `tighten`, an existing
    folder is made 0700 too: data_dir, at every start, may predate this rule.
    (Path.mkdir(parents=True) would give the parents the umask's mode.)"""
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made meanwhile by another process (the daemon and a command)
            pass
        restrict(folder, DIR_MODE)
    if tighten and not missing:
        restrict(path, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """Create `path` empty if it does not exist, and make it 0600 either way."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        restrict_fd(fd, path)
    finally:
        os.close(fd)


def restrict(path: Path, mode: int = FILE_MODE) -> None:
    """chmod, or a warning when the path belongs to someone else: that is the
    operator's choice to correct, not a reason to refuse to start."""
    try:
        os.chmod(path, mode)
    except PermissionError:
        _not_ours(path, mode)


def restrict_fd(fd: int, path: Path, mode: int = FILE_MODE) -> None:
    try:
        os.fchmod(fd, mode)
    except PermissionError:
        _not_ours(path, mode)


def _not_ours(path: Path, mode: int) -> None:
    log.warning("%s could not be made %04o (it belongs to another user): make it so with chmod %o %s",
                path, mode, mode, path)
