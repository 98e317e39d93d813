"""Files under data_dir, content-addressed: raw messages and received documents.

A name is derived from the content's SHA-256, never from the mail, so a hostile
attachment name cannot choose where it lands; writing the same content twice is
harmless (a crash before the database commit leaves at most an orphan file).
Files are 0600 (mkstemp's mode) and their folders 0700, whatever the umask.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from bot.store.private import private_dir

_SAFE_SUFFIX = re.compile(r"^\.[a-z0-9]{1,5}$")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_once(path: Path, data: bytes, durable: bool = True) -> None:
    if path.exists():
        return
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")  # 0600, whatever the umask
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store_raw(data_dir: Path, raw: bytes, digest: str | None = None) -> str:
    """Keep a raw message; returns its path relative to data_dir."""
    digest = digest or sha256(raw)
    relative = f"messages/{digest[:2]}/{digest}.eml"
    _write_once(data_dir / relative, raw)
    return relative


def store_document(data_dir: Path, data: bytes, original_name: str, digest: str | None = None) -> str:
    """Keep a received file; returns its generated name (relative to data_dir)."""
    digest = digest or sha256(data)
    suffix = Path(original_name).suffix.lower()
    relative = f"documents/{digest[:2]}/{digest}{suffix if _SAFE_SUFFIX.match(suffix) else '.bin'}"
    # Not fsynced: a document can always be extracted again from its raw message, which is.
    _write_once(data_dir / relative, data, durable=False)
    return relative
