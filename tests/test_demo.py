"""`make demo` runs akashi-demo: the story must run to the end with every check passing, as CI
runs it; with --keep, every service's data stays for a person to inspect."""

from __future__ import annotations

from pathlib import Path

import pytest

from akashi_demo.__main__ import main
from registry.cli import main as registry_cli


def test_demo_tells_the_whole_story(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    assert main(["--now", "1800000000", "--keep", str(keep)]) == 0
    out = capsys.readouterr().out
    assert "[FAIL]" not in out
    assert "Every check passed." in out
    # 1-3: the credentials, car-sharing, space-sharing (what it stored printed, nothing personal).
    assert "identity verified under jp_aml, method ワ" in out
    assert "its digest is anchored at leaf" in out
    assert "the operator's backend: customer did:key:" in out and "is verified" in out
    assert "what 株式会社スペースシェア stored:" in out
    assert "what it stored holds no name, birth date, address or licence number" in out
    assert "different pairwise DIDs" in out
    assert "swapped for 佐藤 in its disclosure: refused (ProofMismatch" in out
    # 4-5: the parcel locker; the move, re-checked by the issuer, to exactly two operators.
    assert "株式会社パーセルロッカー asks for her name and address" in out
    receivers = "株式会社アカシモビリティ and 株式会社パーセルロッカー will receive it"
    assert receivers + "; 株式会社スペースシェア will not" in out
    assert "株式会社スペースシェア's mailbox is empty" in out
    assert "her wallet shows both as APPLIED" in out
    # 6: revoke + erasure; the second update reaches only car-sharing.
    assert "the erasure request (APPI Art. 35) reaches it although the consent is revoked" in out
    assert "a second update (the floor number) reaches only 株式会社アカシモビリティ" in out
    # 7: suspension noticed by the recheck.
    assert "her status at 株式会社アカシモビリティ is now 'suspended'" in out
    # 8: the audit record offline; the ledger's files; one changed byte found.
    assert "verified offline with nothing but the log's and the witness's keys" in out
    assert "one edited claim name is found" in out
    assert "no name, birth date, address (old or new) or serial" in out
    assert "on a copy with one byte of leaf" in out and "it finds it" in out

    # Kept: each service's folder, and the registry verifies.
    assert {p.name for p in keep.iterdir()} >= {
        "registry", "issuer", "car-sharing", "space-sharing", "parcel-locker", "wallet",
    }  # fmt: skip
    assert registry_cli(["verify", "--data", str(keep / "registry")]) == 0
    assert main(["--keep", str(keep)]) == 1  # never into a folder that holds data
