"""`make demo` runs akashi-demo: the story must run to the end with every check passing, as CI
runs it, in English and in Japanese (by --lang or the locale); a failure names its step; with
--keep, every service's data stays for a person to inspect."""

from __future__ import annotations

from pathlib import Path

import pytest

from akashi_demo.__main__ import Narrator, language_from_env, main
from identity.errors import MalformedInput
from registry.cli import main as registry_cli


def test_demo_tells_the_whole_story(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    assert main(["--now", "1800000000", "--lang", "en", "--keep", str(keep)]) == 0
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


def test_demo_tells_the_story_in_japanese(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--now", "1800000000", "--lang", "ja"]) == 0
    out = capsys.readouterr().out
    assert "[FAIL]" not in out
    assert out.rstrip().endswith("すべての確認に合格しました。")
    for title in (
        "1. 事業者のコンソーシアムが台帳を立ち上げます",
        "8. 株式会社パーセルロッカーが、荷物を届けるために氏名と住所を",
        "9. 花子さんが大阪府大阪市北区中之島1-3-20に引っ越します",
        "10. 花子さんが株式会社パーセルロッカーへの同意を撤回し、データの消去を求めます",
        "11. 発行者が運転免許の証明書を一時停止します",
        "14. 台帳を誰にも気づかれずに書き換えることはできません",
    ):
        assert title in out
    assert "消去の請求（個人情報保護法 第35条）は届きます" in out
    assert "ウォレットの表示：姓、名、住所" in out  # the claims in the wallet's Japanese labels
    assert "`akashi-registry verify` でレジストリのデータを検証" in out
    for english in (
        "She moves to", "asks it to erase her data", "Nobody rewrites the ledger unnoticed",
        "the wallet shows:", "Every check passed.",
    ):  # fmt: skip
        assert english not in out


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({}, "en"),
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "C"}, "en"),
        ({"LC_ALL": "ja_JP.UTF-8", "LANG": "en_GB.UTF-8"}, "ja"),
        ({"LC_ALL": "C.UTF-8", "LANG": "ja_JP.UTF-8"}, "en"),  # LC_ALL wins
        ({"LC_MESSAGES": "ja_JP.eucJP", "LANG": "en_US"}, "ja"),
        ({"LC_ALL": "", "LANG": "ja"}, "ja"),  # an empty variable is not set
    ],
)
def test_language_comes_from_the_locale(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], lang: str
) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert language_from_env() == lang
    assert language_from_env(env) == lang


@pytest.mark.parametrize(
    ("lang", "passed", "failed"),
    [
        ("en", "Every check passed.", "3 check(s) failed, in steps 2 and 3."),
        ("ja", "すべての確認に合格しました。", "ステップ2、3で3件の確認が失敗しました。"),
    ],
)
def test_a_failure_names_its_step(
    capsys: pytest.CaptureFixture[str], lang: str, passed: str, failed: str
) -> None:
    n = Narrator("ja" if lang == "ja" else "en")
    n.title("first", "最初")
    n.check(True, "fine", "問題なし")
    assert n.summary() == passed
    n.title("second", "2番目")
    n.check(False, "broken", "壊れています")
    n.title("third", "3番目")
    n.check(False, "broken", "壊れています")
    n.check(False, "broken again", "また壊れています")
    assert n.summary() == failed
    out = capsys.readouterr().out
    assert ("2. 2番目" if lang == "ja" else "2. second") in out
    assert ("[FAIL] また壊れています" if lang == "ja" else "[FAIL] broken again") in out
    single = Narrator("en")
    single.title("only", "唯一")
    single.check(False, "broken", "壊れています")
    assert single.summary() == "1 check(s) failed, in step 1."


def test_a_step_that_stops_is_reported_with_its_number_and_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise MalformedInput("the ledger refused the wallet's inception")

    monkeypatch.setattr("akashi_demo.__main__.create_wallet", broken)
    assert main(["--now", "1800000000", "--lang", "en"]) == 1
    out = capsys.readouterr().out
    assert "2. Yamada Hanako (山田 花子) creates her wallet" in out
    assert "[FAIL] the step stopped: MalformedInput: the ledger refused the wallet's inception" in out
    assert out.rstrip().endswith("1 check(s) failed, in step 2.")
