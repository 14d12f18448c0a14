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
    assert "the credential's digest is anchored on the ledger" in out
    assert "no name, birth date, address or serial" in out
