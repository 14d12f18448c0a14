"""Encrypted, versioned backups: a restore gives back the same wallet; a damaged, forged,
newer or wrong-passphrase backup is refused and no wallet is made from it."""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wallet_world import CARSHARE, NOW, PASSPHRASE, fill, new_wallet, open_wallet, seeded

from holder_app.backup import BACKUP_FORMAT, decode_backup
from holder_app.records import WalletContents
from holder_app.store import WalletStore
from identity.crypto.passphrase import TEST_PARAMS
from identity.errors import AkashiError, CorruptBackup, UnsupportedVersion, WrongPassphrase

BACKUP_PASSPHRASE = "a different one for the USB stick"


def restore(backup: Path, target: Path, passphrase: str = BACKUP_PASSPHRASE) -> WalletStore:
    return WalletStore.restore(
        backup, passphrase, target, params=TEST_PARAMS, random=seeded(5), clock=lambda: NOW
    )


Backup = tuple[Path, WalletContents]


@pytest.fixture
def backup(tmp_path: Path) -> Backup:
    with new_wallet(tmp_path / "wallet.db") as store:
        fill(store)
        store.export_backup(tmp_path / "wallet.backup", BACKUP_PASSPHRASE, params=TEST_PARAMS)
        return tmp_path / "wallet.backup", store.contents()


def with_checksum(head: bytes) -> bytes:
    """A backup whose checksum line was recomputed, as a forger would."""
    return head + b"sha256 " + hashlib.sha256(head).hexdigest().encode() + b"\n"


def test_restore_gives_back_an_equal_wallet_that_works(backup: Backup, tmp_path: Path) -> None:
    path, contents = backup
    with restore(path, tmp_path / "restored.db") as store:
        assert store.contents() == contents
    # the restored wallet is locked with the backup's passphrase
    with open_wallet(tmp_path / "restored.db", BACKUP_PASSPHRASE) as store:
        assert store.contents() == contents
        copy = store.copy_for(contents.credentials[0].id, CARSHARE)
        assert copy is not None and copy.id == contents.credentials[0].copies[0].id
        store.log("recovery", outcome="completed")
        assert [entry.seq for entry in store.history()] == [1, 2, 3, 4]


def test_the_backup_is_versioned_text_and_holds_nothing_in_clear(backup: Backup) -> None:
    path, contents = backup
    lines = path.read_bytes().split(b"\n")
    assert lines[0] == f"{BACKUP_FORMAT} 1".encode() and lines[3] == b""
    body = json.loads(lines[1])
    assert set(body) == {"kdf", "salt", "sealed"} and body["kdf"]["opslimit"] == TEST_PARAMS.opslimit
    assert CARSHARE.encode() not in path.read_bytes()
    assert contents.credentials[0].copies[0].sd_jwt[:20].encode() not in path.read_bytes()


def test_wrong_passphrase_is_refused_and_no_wallet_is_made(backup: Backup, tmp_path: Path) -> None:
    path, _ = backup
    with pytest.raises(WrongPassphrase, match="the passphrase does not open this backup"):
        restore(path, tmp_path / "restored.db", PASSPHRASE)  # the wallet's passphrase, not the backup's
    assert not (tmp_path / "restored.db").exists()


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda d: d[: len(d) // 2], CorruptBackup, "cut off or edited"),
        (lambda d: d[:-1], CorruptBackup, "cut off or edited"),
        (lambda d: d.replace(b'"sealed":"', b'"sealed":"A'), CorruptBackup, "checksum does not match"),
        (lambda d: d.replace(b"backup 1", b"backup 2"), UnsupportedVersion, "newer akashi .* format 2"),
        (lambda d: d.replace(b"backup 1", b"backup 0"), CorruptBackup, "not an akashi"),
        (lambda d: b"SQLite format 3\x00" + d, CorruptBackup, "not an akashi wallet backup"),
        (lambda d: b"", CorruptBackup, "not an akashi wallet backup"),
    ],
    ids=["half", "last-byte", "edited", "newer", "version-0", "not-a-backup", "empty"],
)
def test_damaged_or_foreign_backups_are_refused(
    backup: Backup, tmp_path: Path, change: object, error: type[AkashiError], message: str
) -> None:
    path, _ = backup
    path.write_bytes(change(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(error, match=message):
        restore(path, tmp_path / "restored.db")
    assert not (tmp_path / "restored.db").exists()


def test_a_forged_box_with_a_fixed_up_checksum_is_still_refused(backup: Backup, tmp_path: Path) -> None:
    path, _ = backup
    head, body = path.read_bytes().split(b"\n")[:2]
    document = json.loads(body)
    sealed = document["sealed"]
    document["sealed"] = sealed[:-8] + ("A" if sealed[-8] != "A" else "B") + sealed[-7:]
    path.write_bytes(with_checksum(head + b"\n" + json.dumps(document).encode() + b"\n"))
    with pytest.raises(WrongPassphrase):  # the tag fails: by key or by forgery, nobody can tell
        restore(path, tmp_path / "restored.db")
    assert not (tmp_path / "restored.db").exists()


def test_parameters_that_would_stall_the_reader_are_refused_first(backup: Backup, tmp_path: Path) -> None:
    path, _ = backup
    head, body = path.read_bytes().split(b"\n")[:2]
    document = json.loads(body)
    document["kdf"]["memlimit"] = 64 * 1024**3  # 64 GiB
    path.write_bytes(with_checksum(head + b"\n" + json.dumps(document).encode() + b"\n"))
    with pytest.raises(CorruptBackup, match="memlimit"):
        restore(path, tmp_path / "restored.db")


def test_restore_never_writes_over_a_file(backup: Backup, tmp_path: Path) -> None:
    path, _ = backup
    (tmp_path / "taken.db").write_bytes(b"something else")
    with pytest.raises(FileExistsError):
        restore(path, tmp_path / "taken.db")
    assert (tmp_path / "taken.db").read_bytes() == b"something else"


def test_export_refuses_an_existing_file_unless_told_to_replace_it(tmp_path: Path) -> None:
    target = tmp_path / "wallet.backup"
    target.write_bytes(b"last week's backup")
    with new_wallet(tmp_path / "wallet.db") as store:
        fill(store)
        with pytest.raises(FileExistsError):
            store.export_backup(target, BACKUP_PASSPHRASE, params=TEST_PARAMS)
        assert target.read_bytes() == b"last week's backup"
        store.export_backup(target, BACKUP_PASSPHRASE, params=TEST_PARAMS, overwrite=True)
        assert decode_backup(target.read_bytes(), BACKUP_PASSPHRASE) == store.contents()
    # and no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wallet.backup", "wallet.db"]


@functools.cache
def sample_backup() -> bytes:
    """A filled wallet's backup bytes, made once."""
    with tempfile.TemporaryDirectory() as folder:
        with new_wallet(Path(folder) / "wallet.db") as store:
            fill(store)
            store.export_backup(Path(folder) / "b", BACKUP_PASSPHRASE, params=TEST_PARAMS)
        return (Path(folder) / "b").read_bytes()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_flipped_byte_is_refused_with_an_akashi_error(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    raw = sample_backup()
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    flip = data.draw(st.integers(1, 255), label="flip")
    altered = bytearray(raw)
    altered[position] ^= flip
    folder = tmp_path_factory.mktemp("flip")
    (folder / "wallet.backup").write_bytes(bytes(altered))
    with pytest.raises(AkashiError):
        restore(folder / "wallet.backup", folder / "restored.db")
    assert not (folder / "restored.db").exists()
