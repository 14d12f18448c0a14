"""``akashi-registry member add|update|remove``: governance admits, changes and removes a trust-registry
member from the command line, against a registry node served on loopback. Each change is approved
by k of the n governance key files ``init`` wrote; a change that k keys did not approve, or a member
file that is not a member, is refused in one line with a non-zero exit and nothing on the ledger."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rules_world import OTHER_CN, VERIFIER_CN, Org

from akashi_demo.loopback import LoopbackRegistry
from identity.errors import NotFound
from registry.cli import main
from registry.client import ClientTrust, RegistryClient

PURPOSES = [
    {"id": "car-sharing", "text": "カーシェアリングの会員登録", "claims": [["age_over_20"], ["address"]]},
    {"id": "space-sharing", "text": "スペースシェアリングの利用登録", "claims": [["age_over_18"]]},
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackRegistry]:
    node = LoopbackRegistry(tmp_path_factory.mktemp("registry"))
    yield node
    node.stop()


@pytest.fixture
def ledger(registry: LoopbackRegistry) -> Iterator[RegistryClient]:
    trust = ClientTrust.from_genesis(registry.genesis, [registry.service.witness_verifier.vkey], 1)
    with RegistryClient(registry.url, trust=trust) as client:
        yield client


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def keys(registry: LoopbackRegistry, *numbers: int) -> list[str | Path]:
    """``--governance-key`` options for the key files ``init`` wrote (numbered from 1)."""
    folder = registry.config.data_dir / "governance"
    return [arg for n in numbers for arg in ("--governance-key", folder / f"governance-{n}.jwk")]


def member_args(registry: LoopbackRegistry, action: str, *numbers: int) -> list[str | Path]:
    return [
        "member", action, "--node", registry.url, "--genesis", registry.config.genesis_file,
        "--witness", registry.service.witness_verifier.vkey, "--k", "1", *keys(registry, *numbers),
    ]  # fmt: skip


def verifier_body(did: str, **changes: Any) -> dict[str, Any]:
    """A verifier's member body, as ``akashi-verifier init`` prints it."""
    body = {
        "did": did,
        "role": "verifier",
        "legal_name": "株式会社アカシモビリティ",
        "corporate_number": VERIFIER_CN,
        "version": 1,
        "purposes": PURPOSES,
    }
    return {**body, **changes}


def write(path: Path, body: dict[str, Any] | str) -> Path:
    path.write_text(body if isinstance(body, str) else json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return path


def one_line(err: str) -> bool:
    return err.startswith("akashi-registry: ") and err.count("\n") == 1


def test_two_of_three_governance_keys_admit_a_verifier(
    registry: LoopbackRegistry, ledger: RegistryClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    did = Org("cli-carshare").did
    member = write(tmp_path / "member.json", verifier_body(did))
    code, out, err = run(capsys, *member_args(registry, "add", 1, 3), "--member", member, "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["type"], answer["did"], answer["version"], answer["duplicate"]) == (
        "member.add", did, 1, False,
    )  # fmt: skip
    governance = set(registry.genesis.governance.keys)
    assert len(set(answer["approvals"])) == 2 and set(answer["approvals"]) <= governance

    proven = ledger.member(did)
    assert proven.entry is not None and proven.entry.index == answer["index"]
    record = proven.record
    assert (record.role, record.legal_name, record.corporate_number, record.active) == (
        "verifier", "株式会社アカシモビリティ", VERIFIER_CN, True,
    )  # fmt: skip
    assert [p.id for p in record.purposes] == ["car-sharing", "space-sharing"]

    # Human output names the leaf; the same approved entry again is the same leaf.
    code, out, err = run(capsys, *member_args(registry, "add", 1, 3), "--member", member)
    assert code == 0, err
    assert out.strip().endswith(f"at leaf {answer['index']} (it was on the ledger already)")


def test_one_governance_key_is_refused_with_the_rule_named(
    registry: LoopbackRegistry, ledger: RegistryClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    did = Org("cli-alone").did
    member = write(tmp_path / "member.json", verifier_body(did))
    size = ledger.checkpoint().size
    code, out, err = run(capsys, *member_args(registry, "add", 2), "--member", member)
    assert (code, out) == (1, "") and one_line(err)
    assert "member.threshold-not-met" in err and "2 are required" in err
    # The same key twice is still one approval: refused before anything is signed.
    code, out, err = run(capsys, *member_args(registry, "add", 2, 2), "--member", member)
    assert (code, out) == (1, "") and one_line(err) and "given already" in err
    with pytest.raises(NotFound):
        ledger.member(did)
    assert ledger.checkpoint().size == size


def _without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != name}


#: case -> (the member file's text for a DID, what the one-line error must name)
MALFORMED: dict[str, tuple[Callable[[str], str], str]] = {
    "not-json": (lambda did: "{not json", "member file"),
    "not-an-object": (lambda did: "[]", "must be a JSON object"),
    "duplicate-name": (lambda did: f'{{"did": "{did}", "did": "{did}"}}', "'did' more than once"),
    "no-did": (lambda did: json.dumps(_without(verifier_body(did), "did")), "entry-member.add"),
    "bad-corporate-number": (
        lambda did: json.dumps(verifier_body(did, corporate_number="123")), "/member/corporate_number",
    ),
    "verifier-with-methods": (
        lambda did: json.dumps(verifier_body(did, evidence_methods=["jpki"])), "/member",
    ),
    "init-document": (
        lambda did: json.dumps({"did": did, "admin_token": "secret", "member": verifier_body(did)}),
        'only its "member" object',
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_member_file_is_one_line_and_sends_nothing(
    registry: LoopbackRegistry,
    ledger: RegistryClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    content, expected = MALFORMED[case]
    member = write(tmp_path / "member.json", content(Org("cli-malformed").did))
    size = ledger.checkpoint().size
    code, out, err = run(capsys, *member_args(registry, "add", 1, 2), "--member", member)
    assert (code, out) == (1, "") and one_line(err), err
    assert expected in err
    assert ledger.checkpoint().size == size


def test_missing_files_and_usage_errors(
    registry: LoopbackRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    member = write(tmp_path / "member.json", verifier_body(Org("cli-usage").did))
    code, _, err = run(capsys, *member_args(registry, "add", 1, 2), "--member", tmp_path / "absent.json")
    assert code == 1 and one_line(err) and "absent.json" in err
    not_a_key = [*member_args(registry, "add", 1), "--governance-key", member, "--member", member]
    code, _, err = run(capsys, *not_a_key)
    assert code == 1 and one_line(err) and f"{member} is not a governance key file" in err
    for argv in (["member"], ["member", "remove", "--node", registry.url], ["member", "add", "--json"]):
        with pytest.raises(SystemExit) as usage:
            main(argv)
        assert usage.value.code == 2
    capsys.readouterr()


def test_update_from_stdin_then_remove_then_admit_again(
    registry: LoopbackRegistry,
    ledger: RegistryClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    did = Org("cli-lifecycle").did
    first = write(tmp_path / "member.json", verifier_body(did))
    assert run(capsys, *member_args(registry, "add", 1, 2), "--member", first)[0] == 0

    # An update without "version" takes the next one from the ledger; the body comes on stdin.
    renamed = verifier_body(did, legal_name="株式会社アカシモビリティ東日本", corporate_number=OTHER_CN)
    del renamed["version"]
    stdin = io.TextIOWrapper(io.BytesIO(json.dumps(renamed, ensure_ascii=False).encode()), encoding="utf-8")
    monkeypatch.setattr("sys.stdin", stdin)
    code, out, err = run(capsys, *member_args(registry, "update", 2, 3), "--member", "-", "--json")
    assert code == 0, err
    assert json.loads(out)["version"] == 2
    record = ledger.member(did).record
    assert (record.legal_name, record.corporate_number, record.version) == (
        "株式会社アカシモビリティ東日本", OTHER_CN, 2,
    )  # fmt: skip

    # A stale body (version 1 again) cannot undo the update: the rules name why.
    code, out, err = run(capsys, *member_args(registry, "update", 1, 2), "--member", first)
    assert (code, out) == (1, "") and one_line(err) and "member.version-not-next" in err

    code, out, err = run(capsys, *member_args(registry, "remove", 1, 2, 3), "--did", did, "--json")
    assert code == 0, err
    removed = json.loads(out)
    assert (removed["type"], removed["version"], len(removed["approvals"])) == ("member.remove", 3, 3)
    proven = ledger.member(did)
    assert not proven.record.active and proven.record.version == 3
    assert proven.entry is not None and proven.entry.index == removed["index"]

    code, _, err = run(capsys, *member_args(registry, "remove", 1, 2), "--did", did)
    assert code == 1 and one_line(err) and "member.not-active" in err
    code, _, err = run(capsys, *member_args(registry, "update", 1, 2), "--member", first)
    assert code == 1 and one_line(err) and "member.not-active" in err

    # Admitted again, it continues the version sequence.
    again = write(tmp_path / "again.json", {k: v for k, v in verifier_body(did).items() if k != "version"})
    code, out, err = run(capsys, *member_args(registry, "add", 1, 2), "--member", again, "--json")
    assert code == 0, err
    assert json.loads(out)["version"] == 4 and ledger.member(did).record.active


def test_removing_an_unknown_member_is_one_line(
    registry: LoopbackRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *member_args(registry, "remove", 1, 2), "--did", Org("cli-nobody").did)
    assert (code, out) == (1, "") and one_line(err) and "member.not-active" in err
