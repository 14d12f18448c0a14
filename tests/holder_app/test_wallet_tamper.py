"""A wallet file that is not what the store wrote: wrong passphrase, damage, tampering,
another program's file, a newer version. Each is refused with its own error, never a
traceback from sqlite3, and a wrong passphrase never changes the file."""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wallet_world import PASSPHRASE, fill, new_wallet, open_wallet

from holder_app.records import WalletContents
from holder_app.store import WalletStore
from identity.errors import AkashiError, CorruptWallet, NotFound, UnsupportedVersion, WrongPassphrase


@pytest.fixture
def wallet(tmp_path: Path) -> Path:
    path = tmp_path / "wallet.db"
    with new_wallet(path) as store:
        fill(store)
    return path


def edit(path: Path, *statements: str) -> None:
    """Change the file behind the store's back, as an attacker with the file would."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.close()


def test_wrong_passphrase_is_refused_clearly_and_leaves_the_file_byte_identical(wallet: Path) -> None:
    before = hashlib.sha256(wallet.read_bytes()).hexdigest()
    listing = sorted(p.name for p in wallet.parent.iterdir())
    with pytest.raises(WrongPassphrase, match="the passphrase does not open this wallet"):
        open_wallet(wallet, "correct horse battery staple")
    assert hashlib.sha256(wallet.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in wallet.parent.iterdir()) == listing  # no journal left behind
    open_wallet(wallet).close()  # and the right one still opens it


@pytest.mark.parametrize("keep", [0.5, 0.9, 100 / 4096])
def test_a_truncated_file_is_corrupt(wallet: Path, keep: float) -> None:
    data = wallet.read_bytes()
    wallet.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CorruptWallet):
        open_wallet(wallet)


def flip_first_byte(table: str, column: str = "sealed") -> str:
    # XOR the first byte of the value, keeping its type (a blob stays a blob)
    return (
        f"UPDATE {table} SET {column} = CAST(char(unicode(CAST(substr({column}, 1, 1) AS TEXT)) # 1) "
        f"|| substr({column}, 2) AS BLOB) WHERE rowid = (SELECT MIN(rowid) FROM {table})"
    )


@pytest.mark.parametrize("table", ["keys", "identity", "credentials", "copies", "consents", "log"])
def test_a_flipped_bit_in_any_sealed_record_is_found_at_open(wallet: Path, table: str) -> None:
    conn = sqlite3.connect(wallet)
    rowid, sealed = conn.execute(f"SELECT rowid, sealed FROM {table} ORDER BY rowid LIMIT 1").fetchone()
    altered = bytes([sealed[0]]) + bytes([sealed[1] ^ 0x01]) + sealed[2:]
    conn.execute(f"UPDATE {table} SET sealed = ? WHERE rowid = ?", (altered, rowid))
    conn.commit()
    conn.close()
    with pytest.raises(CorruptWallet, match=f"{table} row .* is altered or damaged"):
        open_wallet(wallet)


def test_a_sealed_record_swapped_between_two_rows_is_found(wallet: Path) -> None:
    edit(
        wallet,
        "CREATE TEMP TABLE s AS SELECT rowid AS r, sealed FROM copies",
        "UPDATE copies SET sealed = (SELECT sealed FROM s WHERE r = copies.rowid % 3 + 1)",
    )
    with pytest.raises(CorruptWallet, match="sealed for another row: moved or swapped"):
        open_wallet(wallet)


def test_a_sealed_record_moved_to_another_table_is_found(wallet: Path) -> None:
    # a key's sealed seed put where a log line was: the box opens, but names another table
    edit(wallet, "UPDATE log SET sealed = (SELECT sealed FROM keys LIMIT 1) WHERE seq = 1")
    with pytest.raises(CorruptWallet, match="log row 1 holds data sealed for another row"):
        open_wallet(wallet)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE consents SET status = 'revoked'",  # a consent shown as withdrawn
        "UPDATE copies SET used_by_tag = NULL",  # a used copy offered to a second verifier
        "UPDATE keys SET retired_at = 1 WHERE role = 'root'",
        "UPDATE credentials SET issuer = 'did:akashi:QmSomebodyElse'",
        "UPDATE log SET outcome = 'completed'",
    ],
)
def test_an_edited_plain_column_is_found(wallet: Path, statement: str) -> None:
    edit(wallet, statement)
    with pytest.raises(CorruptWallet, match="its columns disagree with its sealed record"):
        open_wallet(wallet)


@pytest.mark.parametrize(("old", "new"), [('"salt": "', '"salt": "A'), ('"opslimit": 1', '"opslimit": 2')])
def test_a_damaged_salt_or_parameter_is_damage_not_wrong_passphrase(wallet: Path, old: str, new: str) -> None:
    conn = sqlite3.connect(wallet)
    (kdf,) = conn.execute("SELECT value FROM meta WHERE name = 'kdf'").fetchone()
    assert old in kdf
    conn.execute("UPDATE meta SET value = ? WHERE name = 'kdf'", (kdf.replace(old, new),))
    conn.commit()
    conn.close()
    with pytest.raises(CorruptWallet, match="header does not match its checksum"):
        open_wallet(wallet)


def test_a_deleted_copy_row_breaks_nothing_silently(wallet: Path) -> None:
    edit(wallet, "PRAGMA foreign_keys=OFF", "DELETE FROM keys WHERE role = 'holder'")
    with pytest.raises(CorruptWallet, match="refers to one that is missing"):
        open_wallet(wallet)


@pytest.mark.parametrize(
    "make",
    [
        lambda path: path.write_bytes(b""),
        lambda path: path.write_bytes(b"%PDF-1.7 not a database at all" * 100),
        lambda path: path.write_bytes(b"SQLite format 3\x00" + bytes(200)),
        lambda path: sqlite3.connect(path).execute("CREATE TABLE notes (body TEXT)").connection.commit(),
        lambda path: sqlite3.connect(path).execute("CREATE TABLE meta (name, value)").connection.commit(),
    ],
    ids=["empty", "pdf", "sqlite-header-only", "another-app", "another-app-with-meta"],
)
def test_a_file_that_is_not_a_wallet_is_refused(tmp_path: Path, make: Callable[[Path], object]) -> None:
    path = tmp_path / "other.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(CorruptWallet, match="is not an akashi wallet"):
        WalletStore.open(path, PASSPHRASE)
    assert path.read_bytes() == before


def test_a_missing_file_is_not_found_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="there is no wallet"):
        WalletStore.open(tmp_path / "typo.db", PASSPHRASE)
    assert list(tmp_path.iterdir()) == []


def test_a_wallet_of_a_newer_version_is_refused_clearly(wallet: Path) -> None:
    edit(wallet, "UPDATE meta SET value = '2' WHERE name = 'schema_version'")
    with pytest.raises(UnsupportedVersion, match=r"newer akashi.*format 2.*reads format 1"):
        open_wallet(wallet)


def test_a_damaged_version_is_corrupt(wallet: Path) -> None:
    edit(wallet, "UPDATE meta SET value = 'one' WHERE name = 'schema_version'")
    with pytest.raises(CorruptWallet, match="version is unreadable"):
        open_wallet(wallet)


@functools.cache
def pristine() -> tuple[bytes, WalletContents]:
    """A filled wallet's bytes and contents, made once."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "wallet.db"
        with new_wallet(path) as store:
            fill(store)
            contents = store.contents()
        return path.read_bytes(), contents


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_flipped_byte_is_refused_or_harmless(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    raw, contents = pristine()
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    flip = data.draw(st.integers(1, 255), label="flip")
    path = tmp_path_factory.mktemp("flip") / "wallet.db"
    altered = bytearray(raw)
    altered[position] ^= flip
    path.write_bytes(bytes(altered))
    try:
        store = open_wallet(path)
    except AkashiError:
        return  # refused with one of ours: fine
    with store:  # or the byte did not matter (free space, unused header bytes): content intact
        assert store.contents() == contents
