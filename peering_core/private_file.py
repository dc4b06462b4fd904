"""Files private to their owner: the operator's audit log and the platform's share this."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def open_private(path: Path) -> int:
    """Open ``path`` for appending, private to its owner: created 0600, and an existing file
    with more open permissions made 0600. Raises ``OSError`` with a message that says which
    file and why when it cannot be written or made private."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise OSError(exc.errno, f"{path} cannot be written: {exc.strerror}") from None
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            try:
                os.fchmod(fd, 0o600)
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"{path} is readable by others (mode {mode:04o}) and cannot be made "
                    f"private: {exc.strerror}",
                ) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_appendable(path: Path) -> None:
    """Raise ``OSError`` (saying which file and why) unless ``path`` can be appended to and
    kept private: an existing file is opened and made 0600; a missing one is not created,
    but the nearest existing directory above it must be one this process can write in."""
    if path.exists():
        os.close(open_private(path))
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OSError(errno.ENOTDIR, f"{path} cannot be written: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OSError(errno.EACCES, f"{path} cannot be written: {ancestor} is not writable")
