"""The wallet backup file: versioned text, encrypted under its own passphrase.

Three lines, each ending in ``\\n``::

    akashi-wallet-backup 1
    {"kdf":{"alg":"argon2id13","opslimit":3,"memlimit":268435456},"salt":"<b64url>","sealed":"<b64url>"}
    sha256 <hex of SHA-256 over lines 1 and 2, newlines included>

* Line 1 names the format and its version, so any reader can tell what the file
  is and refuse a version newer than it knows before parsing anything else.
* Line 2 carries the Argon2id parameters, the 16-byte salt, and ``sealed`` =
  XSalsa20-Poly1305 under ``HKDF-Expand(Argon2id(passphrase, salt), "akashi-wallet-backup/v1/seal")``
  of the JSON ``{"format": "akashi-wallet-backup", "version": 1, "wallet": …}``,
  ``wallet`` being :meth:`holder_app.records.WalletContents.to_json` (private keys included).
* Line 3 is an *unkeyed* checksum. It stops nobody; it lets the reader tell a
  damaged file (a flipped bit, a cut-off copy: :class:`~identity.errors.CorruptBackup`)
  from a wrong passphrase. The Poly1305 tag is what stops a forger; a forged file
  with a fixed-up checksum is reported as a passphrase that does not open it.

:func:`decode_backup` checks in this order, each step before any work of the next:
size; line 1 (not a backup, or a newer version); the shape of the file and its
checksum; the KDF parameters (bounded, so a forged file cannot demand gigabytes);
the box (:class:`~identity.errors.WrongPassphrase`); the payload.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

from holder_app.records import WalletContents
from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.keys import RandomSource
from identity.crypto.passphrase import DEFAULT_PARAMS, SALT_BYTES, KdfParams, derive_key, expand_key
from identity.crypto.secretbox import open_secret, seal_secret
from identity.crypto.strict_json import loads_object
from identity.errors import (
    CorruptBackup,
    InvalidSignature,
    MalformedInput,
    UnsupportedVersion,
    WrongPassphrase,
)

__all__ = ["BACKUP_FORMAT", "BACKUP_VERSION", "MAX_BACKUP_BYTES", "decode_backup", "encode_backup"]

BACKUP_FORMAT = "akashi-wallet-backup"
BACKUP_VERSION = 1
#: A wallet is keys, a few credentials and a log: far below this. Checked before reading on.
MAX_BACKUP_BYTES = 64 * 1024 * 1024
_SEAL_INFO = "akashi-wallet-backup/v1/seal"


def _checksum_line(head: bytes) -> bytes:
    return b"sha256 " + hashlib.sha256(head).hexdigest().encode("ascii") + b"\n"


def _payload_key(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    return expand_key(derive_key(passphrase, salt, params), _SEAL_INFO)


def encode_backup(
    contents: WalletContents,
    passphrase: str,
    *,
    params: KdfParams = DEFAULT_PARAMS,
    random: RandomSource = os.urandom,
) -> bytes:
    """The backup file's bytes for ``contents``, locked with ``passphrase`` (non-empty)."""
    if not passphrase:
        raise MalformedInput("a backup passphrase must not be empty")
    salt = random(SALT_BYTES)
    payload = {"format": BACKUP_FORMAT, "version": BACKUP_VERSION, "wallet": contents.to_json()}
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    sealed = seal_secret(_payload_key(passphrase, salt, params), plaintext.encode("utf-8"), random)
    body = {"kdf": params.to_json(), "salt": b64url_encode(salt), "sealed": b64url_encode(sealed)}
    head = f"{BACKUP_FORMAT} {BACKUP_VERSION}\n{json.dumps(body, separators=(',', ':'))}\n".encode("ascii")
    return head + _checksum_line(head)


def _version(first_line: bytes) -> int:
    """The version named by line 1; CorruptBackup if it is not our format at all."""
    name, _, version = first_line.partition(b" ")
    if name != BACKUP_FORMAT.encode("ascii") or not version.isdigit() or version.startswith(b"0"):
        raise CorruptBackup(f"this is not an akashi wallet backup (it does not begin '{BACKUP_FORMAT} N')")
    return int(version)


def decode_backup(data: bytes, passphrase: str) -> WalletContents:
    """The wallet contents in a backup file's bytes, checked as the module docstring says."""
    if len(data) > MAX_BACKUP_BYTES:
        raise CorruptBackup(f"the backup is larger than {MAX_BACKUP_BYTES} bytes: not a wallet backup")
    first, newline, _ = data.partition(b"\n")
    version = _version(first if newline else data)
    if version > BACKUP_VERSION:
        raise UnsupportedVersion(
            f"this backup was made by a newer akashi (backup format {version}); "
            f"this version reads format {BACKUP_VERSION}: update akashi to restore it"
        )
    if version != BACKUP_VERSION:
        raise CorruptBackup(f"backup format {version} is not one akashi ever wrote")
    lines = data.split(b"\n")
    if len(lines) != 4 or lines[3] != b"":
        raise CorruptBackup("the backup is damaged: it does not have its three lines (cut off or edited?)")
    head = lines[0] + b"\n" + lines[1] + b"\n"
    if not hmac.compare_digest(lines[2] + b"\n", _checksum_line(head)):
        raise CorruptBackup("the backup is damaged: its checksum does not match its contents")
    try:
        body = loads_object(lines[1], what="backup body")
        if set(body) != {"kdf", "salt", "sealed"}:
            raise MalformedInput("the backup body must have exactly kdf, salt and sealed")
        params = KdfParams.from_json(body["kdf"])
        salt = b64url_decode(body["salt"], what="backup salt")
        sealed = b64url_decode(body["sealed"], what="sealed backup")
        if len(salt) != SALT_BYTES:
            raise MalformedInput(f"a backup salt is {SALT_BYTES} bytes")
    except MalformedInput as exc:
        raise CorruptBackup(f"the backup is damaged: {exc.message}") from exc
    try:
        plaintext = open_secret(_payload_key(passphrase, salt, params), sealed)
    except InvalidSignature as exc:
        raise WrongPassphrase("the passphrase does not open this backup") from exc
    try:
        payload = loads_object(plaintext, what="backup payload")
        if set(payload) != {"format", "version", "wallet"}:
            raise MalformedInput("the backup payload must have exactly format, version and wallet")
        if payload["format"] != BACKUP_FORMAT or payload["version"] != BACKUP_VERSION:
            raise MalformedInput("the backup payload names another format or version than its first line")
        return WalletContents.from_json(payload["wallet"])
    except MalformedInput as exc:
        raise CorruptBackup(f"the backup's contents are not a wallet: {exc.message}") from exc

