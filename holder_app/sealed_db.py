"""A SQLite file whose rows are sealed under a key derived from a passphrase.

The storage layer under :class:`holder_app.store.WalletStore`; it knows rows and
keys, not credentials or consents.

Keys. The passphrase never leaves memory; the file keeps a random salt and the
Argon2id parameters (:mod:`identity.crypto.passphrase`)::

    master    = Argon2id(passphrase, salt, params)
    seal key  = HKDF-Expand(master, "akashi-wallet/v1/seal")    XSalsa20-Poly1305 of every row
    index key = HKDF-Expand(master, "akashi-wallet/v1/index")   HMAC-SHA256 tags (:meth:`SealedDb.tag`)

Rows. A table (:class:`Table`) has a few plain columns to query by and a
``sealed`` column: the record's JSON wrapped as ``{"table", "id", "record"}`` and
sealed (:mod:`identity.crypto.secretbox`). Naming the table and row inside the box,
rather than keeping one subkey per table, also catches a box moved between two
rows of one table. Values that would say something about the person if read from
the plain columns (which verifiers they deal with) are stored as tags: HMACs under
the index key, equal for equal values, so they can be queried, and meaningless
without the passphrase.

Reading a row (:meth:`SealedDb.open_row`), any failure being :class:`CorruptWallet`:

1. the box opens under the seal key (else altered or damaged);
2. it names this table and this row id (else moved from another row);
3. the record parses, strictly;
4. the plain columns equal the ones computed from the record (else edited).

Opening (:meth:`SealedDb.open`), nothing written on the way:

1. ``meta`` names the expected format (else not ours) at a version this code
   reads (else :class:`UnsupportedVersion`);
2. the header's unkeyed SHA-256 matches, so a damaged salt or parameter is
   reported as damage, not as a wrong passphrase;
3. ``PRAGMA integrity_check`` and ``foreign_key_check`` pass (truncation, broken pages);
4. the sealed key check opens (else :class:`WrongPassphrase`).

Not detected: deleted rows, or the whole file replaced by an older copy of itself;
both need a record kept outside the file.

:meth:`SealedDb.write` is one ``BEGIN IMMEDIATE … COMMIT`` transaction that rolls
back on any error. The journal is SQLite's rollback journal, not WAL: a wallet has
one writer and is one file people copy, with no ``-wal`` file beside it holding the
latest rows.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.keys import RandomSource
from identity.crypto.passphrase import SALT_BYTES, KdfParams, derive_key, expand_key
from identity.crypto.secretbox import open_secret, seal_secret
from identity.crypto.strict_json import loads_object
from identity.errors import (
    CorruptWallet,
    InvalidSignature,
    MalformedInput,
    UnsupportedVersion,
    WrongPassphrase,
)

__all__ = ["SealedDb", "Table", "write_new_file"]

_KEY_CHECK = b"akashi wallet key check v1"
_SEAL_INFO = "akashi-wallet/v1/seal"
_INDEX_INFO = "akashi-wallet/v1/index"
_HEADER = ("format", "schema_version", "kdf", "key_check")
_META = "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"

# SQLite result codes that mean "the file is fine, its surroundings are not" (locked, disk
# full, I/O, permissions): those are OSError, never reported as a damaged wallet.
_ENVIRONMENT_ERRORS = (
    "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY",
    "SQLITE_CANTOPEN", "SQLITE_NOMEM", "SQLITE_PERM", "SQLITE_INTERRUPT",
)

R = TypeVar("R")
Tagger = Callable[[str | None], str | None]


@dataclass(frozen=True, slots=True)
class Table(Generic[R]):
    """How one table's records are stored: its plain ``columns`` (the first is the row
    id), how ``index`` computes them from a record (tagging with the given function),
    the record's JSON form (``dump`` / ``parse``) and the listing ``order``."""

    name: str
    columns: tuple[str, ...]
    index: Callable[[R, Tagger], tuple[Any, ...]]
    dump: Callable[[R], dict[str, Any]]
    parse: Callable[[object], R]
    order: str = "rowid"


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """Translate sqlite3's errors where they enter: damage is CorruptWallet, trouble with
    the disk or a lock is OSError; misuse (ProgrammingError) stays what it is."""
    try:
        yield
    except UnicodeDecodeError as exc:  # sqlite3 decoding a TEXT value that is not UTF-8
        raise CorruptWallet(f"{path} is damaged: a text value is not UTF-8") from exc
    except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
        raise
    except sqlite3.DatabaseError as exc:
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith(_ENVIRONMENT_ERRORS):
            raise OSError(f"the wallet file {path} could not be used: {exc}") from exc
        raise CorruptWallet(f"{path} is damaged or is not an akashi wallet ({exc})") from exc


def _connect(path: Path) -> sqlite3.Connection:
    # mode=rw never creates a file: opening a mistyped path must not leave an empty one behind.
    uri = f"{path.resolve().as_uri()}?mode=rw"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA trusted_schema=OFF")  # the file may be hostile: run nothing from its schema
        conn.execute("PRAGMA cell_size_check=ON")  # notice damaged pages sooner
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")  # a record the caller saw stored is on disk
        conn.execute("PRAGMA busy_timeout=5000")
    except BaseException:
        conn.close()
        raise
    return conn


def _header_digest(values: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps([values[name] for name in _HEADER]).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, repr=False)
class _Keys:
    seal: bytes
    index: bytes

    @classmethod
    def derive(cls, passphrase: str, salt: bytes, params: KdfParams) -> _Keys:
        master = derive_key(passphrase, salt, params)
        return cls(expand_key(master, _SEAL_INFO), expand_key(master, _INDEX_INFO))


@dataclass(frozen=True, slots=True)
class _Header:
    params: KdfParams
    salt: bytes
    key_check: bytes


class SealedDb:
    """An open sealed file (module docstring); made by :meth:`create` or :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, keys: _Keys, random: RandomSource) -> None:
        """Internal: use :meth:`create` or :meth:`open`."""
        self.path = path
        self._conn: sqlite3.Connection | None = conn
        self._keys = keys
        self._random = random
        self._lock = threading.RLock()

    @classmethod
    def create(
        cls,
        path: Path,
        passphrase: str,
        *,
        kind: str,
        version: int,
        schema: str,
        params: KdfParams,
        random: RandomSource,
    ) -> SealedDb:
        """A new file of format ``kind`` at ``version`` with the tables of ``schema``; an
        existing file is refused (``FileExistsError``), never written over."""
        salt = random(SALT_BYTES)
        keys = _Keys.derive(passphrase, salt, params)  # the slow part, before any file exists
        header = {
            "format": kind,
            "schema_version": str(version),
            "kdf": json.dumps({"params": params.to_json(), "salt": b64url_encode(salt)}),
            "key_check": b64url_encode(seal_secret(keys.seal, _KEY_CHECK, random)),
        }
        rows = {**header, "header_sha256": _header_digest(header)}
        os.close(_create_private(path))  # claims the name atomically; SQLite's journal inherits the mode
        conn: sqlite3.Connection | None = None
        try:
            with _sqlite_errors(path):
                conn = _connect(path)
                conn.execute("PRAGMA journal_mode=DELETE")
                conn.executescript(f"BEGIN IMMEDIATE;{_META}{schema}COMMIT;")
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", rows.items())
                conn.execute("COMMIT")
        except BaseException:
            if conn is not None:
                conn.close()
            path.unlink(missing_ok=True)  # ours: made above
            raise
        return cls(conn, path, keys, random)

    @classmethod
    def open(cls, path: Path, passphrase: str, *, kind: str, version: int, random: RandomSource) -> SealedDb:
        """The file at ``path``, checked by the opening rules of the module docstring."""
        conn: sqlite3.Connection | None = None
        try:
            with _sqlite_errors(path):
                conn = _connect(path)
                header = _read_header(conn, path, kind, version)  # rules 1-2
                _check_structure(conn, path)  # rule 3
            keys = _Keys.derive(passphrase, header.salt, header.params)
            try:  # rule 4
                check = open_secret(keys.seal, header.key_check)
            except InvalidSignature as exc:
                raise WrongPassphrase("the passphrase does not open this wallet") from exc
            if check != _KEY_CHECK:
                raise CorruptWallet(f"{path} has an altered key check")
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(conn, path, keys, random)

    def add_missing_tables(self, schema: str) -> None:
        """Create the tables of ``schema`` (``CREATE … IF NOT EXISTS`` statements) that a file
        written before they existed lacks, in one transaction; nothing happens to a file
        that has them (and it is not written to)."""
        tables = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", schema)
        with self.read() as conn:
            marks = ", ".join("?" * len(tables))
            found = conn.execute(
                f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})", tables
            ).fetchone()[0]
        if found == len(tables):
            return
        with self.write() as conn:
            for statement in filter(str.strip, schema.split(";")):
                conn.execute(statement)

    def close(self) -> None:
        """Close the file; using it afterwards is a ``RuntimeError``."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads, with sqlite3's errors translated."""
        with self._lock, _sqlite_errors(self.path):
            if self._conn is None:
                raise RuntimeError("the wallet is closed")
            yield self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one transaction: committed if the block ends normally,
        rolled back on any exception."""
        with self.read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def tag(self, value: str | None) -> str | None:
        """The queryable stand-in for ``value`` in a plain column: HMAC-SHA256 under the index key."""
        if value is None:
            return None
        return b64url_encode(hmac.new(self._keys.index, value.encode("utf-8"), hashlib.sha256).digest())

    def open_row(self, table: Table[R], row: Sequence[Any]) -> R:
        """A row's record (plain columns, then ``sealed``), checked by the four reading rules."""
        *plain, sealed = row
        where = f"the wallet's {table.name} row {plain[0]!r}"
        if not isinstance(sealed, bytes):
            raise CorruptWallet(f"{where} is damaged")
        try:
            plaintext = open_secret(self._keys.seal, sealed)  # rule 1
        except InvalidSignature as exc:
            raise CorruptWallet(f"{where} is altered or damaged") from exc
        try:
            payload = loads_object(plaintext, what="sealed row")
            if set(payload) != {"table", "id", "record"}:
                raise MalformedInput("a sealed row has exactly table, id and record")
            if payload["table"] != table.name or payload["id"] != plain[0]:  # rule 2
                raise CorruptWallet(f"{where} holds data sealed for another row: moved or swapped")
            record = table.parse(payload["record"])  # rule 3
        except MalformedInput as exc:
            raise CorruptWallet(f"{where} does not hold a valid record: {exc.message}") from exc
        if tuple(plain) != table.index(record, self.tag):  # rule 4
            raise CorruptWallet(f"{where} was edited: its columns disagree with its sealed record")
        return record

    def select(
        self, conn: sqlite3.Connection, table: Table[R], where: str = "", params: Sequence[Any] = ()
    ) -> list[R]:
        """The records of the rows matching ``where`` (SQL over plain columns), in table order."""
        sql = f"SELECT {', '.join(table.columns)}, sealed FROM {table.name}"
        if where:
            sql += f" WHERE {where}"
        rows = conn.execute(f"{sql} ORDER BY {table.order}", params).fetchall()
        return [self.open_row(table, row) for row in rows]

    def insert(self, conn: sqlite3.Connection, table: Table[R], record: R) -> None:
        """Add ``record`` as a new row."""
        values = table.index(record, self.tag)
        marks = ", ".join("?" * (len(values) + 1))
        conn.execute(
            f"INSERT INTO {table.name} ({', '.join(table.columns)}, sealed) VALUES ({marks})",
            (*values, self._seal(table.name, values[0], table.dump(record))),
        )

    def update(self, conn: sqlite3.Connection, table: Table[R], record: R) -> None:
        """Replace the row of ``record``'s id with ``record``, resealed."""
        values = table.index(record, self.tag)
        assignments = ", ".join(f"{column} = ?" for column in (*table.columns[1:], "sealed"))
        conn.execute(
            f"UPDATE {table.name} SET {assignments} WHERE {table.columns[0]} = ?",
            (*values[1:], self._seal(table.name, values[0], table.dump(record)), values[0]),
        )

    def _seal(self, table: str, row_id: object, record: dict[str, Any]) -> bytes:
        payload = {"table": table, "id": row_id, "record": record}
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return seal_secret(self._keys.seal, text.encode("utf-8"), self._random)


def _read_header(conn: sqlite3.Connection, path: Path, kind: str, version: int) -> _Header:
    """Opening rules 1 and 2: our format, at a version we read, with an intact header."""
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    values = dict(conn.execute("SELECT name, value FROM meta").fetchall()) if has_meta else {}
    if values.get("format") != kind:
        raise CorruptWallet(f"{path} is not an akashi wallet")
    found = values.get("schema_version")
    if not isinstance(found, str) or not found.isdigit():
        raise CorruptWallet(f"{path} is damaged: its format version is unreadable")
    if int(found) > version:
        raise UnsupportedVersion(
            f"{path} was written by a newer akashi (wallet format {int(found)}); "
            f"this version reads format {version}: update akashi to open it"
        )
    names = (*_HEADER, "header_sha256")
    if not all(isinstance(values.get(name), str) for name in names) or not hmac.compare_digest(
        values["header_sha256"], _header_digest(values)
    ):
        raise CorruptWallet(f"{path} is damaged: its header does not match its checksum")
    if int(found) != version:
        raise CorruptWallet(f"{path} names wallet format {found}, which akashi never wrote")
    try:
        kdf = loads_object(values["kdf"], what="wallet KDF settings")
        if set(kdf) != {"params", "salt"}:
            raise MalformedInput("the wallet KDF settings have exactly params and salt")
        salt = b64url_decode(kdf["salt"], what="wallet salt")
        if len(salt) != SALT_BYTES:
            raise MalformedInput(f"a wallet salt is {SALT_BYTES} bytes")
        key_check = b64url_decode(values["key_check"], what="wallet key check")
        return _Header(KdfParams.from_json(kdf["params"]), salt, key_check)
    except MalformedInput as exc:
        raise CorruptWallet(f"{path} is damaged: {exc.message}") from exc


def _check_structure(conn: sqlite3.Connection, path: Path) -> None:
    """Opening rule 3: SQLite's own checks of pages, indexes and references."""
    problems = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
    if problems != ["ok"]:
        raise CorruptWallet(f"{path} is damaged: {problems[0]}")
    if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
        raise CorruptWallet(f"{path} is damaged: a row refers to one that is missing")


def _create_private(path: Path) -> int:
    """A new file only its owner may read (``FileExistsError`` if ``path`` exists): the
    contents are sealed, but a copy for someone else to guess passphrases on is still a gift."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)


def write_new_file(path: Path, data: bytes, *, overwrite: bool, random: RandomSource = os.urandom) -> None:
    """Write ``data`` to ``path`` durably: a new file (``FileExistsError`` if one is there),
    or with ``overwrite`` an atomic replacement (readers see the old file or the new one)."""
    target = path if not overwrite else path.with_name(f".{path.name}.{random(8).hex()}.tmp")
    try:
        with os.fdopen(_create_private(target), "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(target, path)
    except FileExistsError:
        raise
    except BaseException:
        target.unlink(missing_ok=True)
        raise
