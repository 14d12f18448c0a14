"""`make demo` runs akashi-demo: the story must run to the end with every check passing."""

from __future__ import annotations

import pytest

from akashi_demo.__main__ import main


def test_demo_tells_the_whole_core_story(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--now", "1800000000"]) == 0
    out = capsys.readouterr().out
    assert "[FAIL]" not in out
    assert "Every check passed." in out
    assert "identity verified under jp_aml, method ワ" in out
    assert "swapped for 佐藤 in its disclosure: refused (ProofMismatch" in out
    assert "its digest is anchored at leaf" in out
    assert "the operator's backend: customer did:key:" in out and "is verified" in out
    assert "what it stored holds no name, birth date, address or licence number" in out
    assert "different pairwise DIDs" in out
    assert "verified offline with nothing but the log's and the witness's keys" in out
    assert "one edited claim name is found" in out
    assert "no name, birth date, address (old or new) or serial" in out
    assert "only 株式会社アカシモビリティ will receive it" in out
    assert "its customer record now reads 大阪府大阪市北区中之島1-3-20" in out
    assert "株式会社スペースシェア's mailbox is empty" in out
    assert "her wallet shows it: 株式会社アカシモビリティ — APPLIED" in out
    assert "the update and its acknowledgement" in out
