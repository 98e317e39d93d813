"""Read functions for tests/test_read_ahead.py, importable by the reading process."""

from __future__ import annotations

import os
import time


def who_read(raw: bytes, delay: float = 0.0) -> tuple[bytes, int]:
    """The message back, and the process that read it."""
    time.sleep(delay)
    return raw, os.getpid()


def unreadable(raw: bytes, bad: bytes) -> tuple[bytes, int]:
    if raw == bad:
        raise ValueError(f"cannot read {raw.decode()}")
    return raw, os.getpid()
