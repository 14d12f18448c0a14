"""Hash functions akashi uses: SHA-256 everywhere, named here once."""

from __future__ import annotations

import hashlib

__all__ = ["sha256"]


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of ``data``."""
    return hashlib.sha256(data).digest()
