"""``akashi-demo``: the whole story, narrated, on services running on loopback.

A registry node (SQLite, with its witness), the issuer service and three operators'
verifier services start on 127.0.0.1 in this process; the counter, the wallet and the
operators talk to them over HTTP. Every step is checked; the demo exits non-zero if any
check fails. With ``--keep DIR`` (or ``AKASHI_DEMO_KEEP``) every service's data stays in
``DIR/<service>/`` (registry, issuer, car-sharing, space-sharing, parcel-locker, wallet).
The story is told in Japanese or English: ``--lang ja|en``, else from the locale (``LC_ALL``,
``LC_MESSAGES``, ``LANG``, the first one set; ``ja…`` is Japanese, anything else English).

1. A consortium starts its ledger; an identity provider is accredited for JPKI and
   licence IC checks; a car-sharing, a space-sharing and a parcel-locker operator join
   the trust registry with the purposes they may ask for.
2. Yamada Hanako creates her wallet (encrypted file, did:akashi on the ledger with a
   pre-committed recovery key, printed as a recovery kit).
3. Her My Number card (locally generated JPKI test CA) and her driving licence (test
   licence authority) are checked at the issuer's counter; her wallet receives the KYC
   and licence credentials by OpenID4VCI, several copies each, every copy's signature
   and ledger anchor verified before it is stored.
4. The car-sharing operator asks (OpenID4VP, DCQL): identity verified under jp_aml,
   over 20, a licence valid today, name and address, with updates; the wallet shows who
   asks, why, and each claim in plain words; she approves; a consent receipt is
   anchored; the operator records her as verified.
5. The space-sharing operator asks only for KYC and over 18: the demo prints what it
   stored, which holds no name, birth date, address or licence number; it knows her by
   another pairwise DID than the car-sharing operator does.
6. A tampered and a replayed presentation are refused.
7. The parcel-locker operator asks for her name and address, with updates.
8. She moves: the issuer re-checks her My Number card (its new certificate carries the
   new address) and issues a new KYC credential; one update, backed by it, reaches the
   car-sharing and the parcel-locker operators, both apply and acknowledge on the
   ledger; the space-sharing operator receives nothing; her wallet shows both acks.
9. She revokes the parcel-locker consent and asks it to erase her data (APPI Art. 35);
   it acknowledges; a second update reaches only the car-sharing operator.
10. The issuer suspends her licence credential; the car-sharing operator's recheck
    flips her status.
11. She exports her audit record; it verifies offline; one edited byte is found.
12. No personal value (the new address included) is in any registry database file; one
    byte changed in a copy of the registry's database is found by ``akashi-registry verify``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx

from akashi_demo.counter import check_card, check_licence
from akashi_demo.loopback import LoopbackIssuer, LoopbackRegistry, LoopbackVerifier
from holder_app.audit import verify_audit, write_audit_jsonl
from holder_app.audit_events import events_from_store
from holder_app.folder import WALLET_FILE, LedgerSettings
from holder_app.recovery import forget_recovery_keys
from holder_app.recovery_kit import format_kit
from holder_app.store import WalletStore
from holder_app.updates import plan_update, recipients_text, refresh_updates, send_update
from holder_app.wallet import PresentationRequest, Wallet, create_wallet
from identity.credentials.sdjwt import present, verify
from identity.crypto.encoding import b64url_decode, b64url_encode
from identity.crypto.jcs import canonicalize
from identity.did.did_key import did_key_from_public_key
from identity.errors import AkashiError, MalformedInput
from identity.ledger.checkpoint import verify_checkpoint
from identity.ledger.merkle import leaf_hash
from identity.ledger.proofs import parse_inclusion_proof
from identity.schemas import validate
from issuer.evidence import LicenceTrust
from issuer.evidence.testca import (
    HANAKO_CARD,
    create_jpki_ca,
    create_licence_authority,
)
from registry.cli import main as registry_cli
from registry.client import ClientTrust, RegistryClient
from registry.config import RegistryConfig
from registry.genesis import sign_member_entry
from registry.state import Member
from verifier.inbox import receive_updates

#: Values that must never reach a verifier that did not ask for them.
SECRETS = ["花子", "1998-07-15", "霞が関", "千代田区", "female"]
NEW_ADDRESS = "大阪府大阪市北区中之島1-3-20"
WALLET_PASSPHRASE = "demo passphrase — choose a long one"
#: The parcel-locker operator's 法人番号 (a valid check digit: registry.state.corporate_number_valid).
LOCKER_NUMBER = "7010001999999"


Lang = Literal["en", "ja"]
LANGS: tuple[Lang, ...] = ("en", "ja")


def language_from_env(environ: Mapping[str, str] | None = None) -> Lang:
    """The language of the locale: the first of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is
    set (and not empty) decides; ``ja…`` is Japanese, anything else (or none set) English."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def _steps(numbers: list[int], lang: Lang) -> str:
    """``5``, ``5 and 9``, ``3, 5 and 9`` (``5、9`` in Japanese)."""
    texts = [str(number) for number in numbers]
    if lang == "ja":
        return "、".join(texts)
    return texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " and " + texts[-1]


class Narrator:
    """Prints the story in one language, numbering its steps, and counts failed checks
    with the steps they failed in."""

    def __init__(self, lang: Lang = "en") -> None:
        self.lang: Lang = lang
        self.failures = 0
        self.step = 0
        self.failed_steps: list[int] = []

    def text(self, en: str, ja: str) -> str:
        """The text in the story's language."""
        return ja if self.lang == "ja" else en

    def title(self, en: str, ja: str) -> None:
        """Starts the next step."""
        self.step += 1
        print(f"\n{self.step}. {self.text(en, ja)}")

    def say(self, en: str, ja: str | None = None) -> None:
        """One line of the step; without ``ja``, the line is data, printed as is in both."""
        print(f"   {en if ja is None else self.text(en, ja)}")

    def check(self, ok: bool, en: str, ja: str) -> None:
        """One check of the step: ``[ok ]`` or ``[FAIL]``, counted."""
        mark = "ok " if ok else "FAIL"
        print(f"   [{mark}] {self.text(en, ja)}")
        if not ok:
            self.failures += 1
            if self.step not in self.failed_steps:
                self.failed_steps.append(self.step)

    def summary(self) -> str:
        """The last line: every check passed, or how many failed and in which steps."""
        if not self.failures:
            return self.text("Every check passed.", "すべての確認に合格しました。")
        steps = _steps(self.failed_steps, self.lang)
        plural = "s" if len(self.failed_steps) > 1 else ""
        return self.text(
            f"{self.failures} check(s) failed, in step{plural} {steps}.",
            f"ステップ{steps}で{self.failures}件の確認が失敗しました。",
        )


def decoded_parts(presentation: str) -> str:
    """Everything a verifier receives, decoded to text, to search for personal data."""
    texts = []
    for part in presentation.split("~"):
        for segment in part.split("."):
            try:
                texts.append(b64url_decode(segment).decode("utf-8", "replace"))
            except AkashiError:
                texts.append(segment)
    return "\n".join(texts)


def run(now: int, workdir: Path, lang: Lang = "en") -> int:
    """Tells the whole story in ``lang`` with every service's data under ``workdir``: 0 if every
    check passed, else 1. A step that stops on an error counts as a failed check of that step."""
    n = Narrator(lang)

    n.title(
        "A consortium of operators starts its ledger (a registry node on loopback)",
        "事業者のコンソーシアムが台帳を立ち上げます（ループバック上のレジストリノード）",
    )
    try:
        registry = LoopbackRegistry(workdir / "registry", clock=lambda: now)
        try:
            _story(n, now, registry, workdir)
        finally:
            registry.stop()
    except Exception as error:  # reported as a failure of the step it happened in
        if not isinstance(error, AkashiError | httpx.HTTPError):
            traceback.print_exc()
        why = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        n.check(False, f"the step stopped: {why}", f"このステップは途中で止まりました：{why}")
    print()
    print(n.summary())
    return 1 if n.failures else 0


def _story(n: Narrator, now: int, registry: LoopbackRegistry, workdir: Path) -> None:
    genesis = registry.genesis
    witness_key = registry.service.witness_verifier.vkey
    threshold, keys = genesis.governance.threshold, len(genesis.governance.keys)
    n.say(f"node {registry.url}, log {genesis.origin}", f"ノード {registry.url}、ログ {genesis.origin}")
    n.say(
        f"trust-registry changes need {threshold} of {keys} governance keys; every checkpoint is cosigned "
        "by a witness",
        f"トラストレジストリの変更には{keys}個のガバナンス鍵のうち{threshold}個の署名が必要です。"
        "チェックポイントにはすべてウィットネスが連署します",
    )
    trust = ClientTrust.from_genesis(genesis, [witness_key], 1)
    clock = lambda: now  # noqa: E731 - one fixed instant for every service of the story
    ledger = RegistryClient(registry.url, trust=trust, clock=clock)
    governance = registry.governance[:2]
    when = datetime.fromtimestamp(now, UTC)
    ca = create_jpki_ca(when)
    card = ca.issue_card(HANAKO_CARD, when)
    authority = create_licence_authority(when)
    provider = LoopbackIssuer(
        workdir / "issuer",
        jpki_trust=ca.trust(when),
        licence_trust=LicenceTrust((authority.certificate,)),
        ledger=ledger,
        clock=clock,
    )
    operators: list[LoopbackVerifier] = []
    wallet_ledger = RegistryClient(registry.url, trust=trust, clock=clock)
    store = None
    try:
        issuer_did = provider.identity.did
        created = ledger.submit(provider.identity.did_create_entry())
        n.say(
            f"issuer service {provider.url}, {issuer_did[:40]}… created at leaf {created.index}",
            f"発行者サービス {provider.url}：{issuer_did[:40]}… をリーフ {created.index} に登録しました",
        )
        member = Member(
            issuer_did, "issuer", "株式会社デモ本人確認", "4010001234567", 1,
            evidence_methods=("jpki", "drivers_licence_ic"),
        )  # fmt: skip
        accredited = ledger.submit(sign_member_entry("member.add", member.to_body(), governance))
        n.check(
            accredited.proof is not None,
            f"accredited for JPKI and licence IC checks by 2 governance keys (leaf {accredited.index})",
            "2つのガバナンス鍵の署名で、JPKIと運転免許証ICによる本人確認を行う事業者として認定されました"
            f"（リーフ {accredited.index}）",
        )
        for folder, name, number in (
            ("car-sharing", "株式会社アカシモビリティ", "2120901007402"),
            ("space-sharing", "株式会社スペースシェア", "7010001888888"),
            ("parcel-locker", "株式会社パーセルロッカー", LOCKER_NUMBER),
        ):
            operators.append(
                LoopbackVerifier(
                    workdir / folder,
                    legal_name=name,
                    corporate_number=number,
                    ledger=ledger,
                    governance=governance,
                    issuers=[provider.url],
                    clock=clock,
                )
            )
        cars, spaces, locker = operators
        n.check(
            all(ledger.member(o.did).record.role == "verifier" for o in operators),
            f"{cars.legal_name} (car-sharing), {spaces.legal_name} (space-sharing) and {locker.legal_name} "
            "(parcel lockers) are in the trust registry with the purposes they registered",
            f"{cars.legal_name}（カーシェア）、{spaces.legal_name}（スペースシェア）、{locker.legal_name}"
            "（宅配ロッカー）が、登録した利用目的とともにトラストレジストリに載りました",
        )

        n.title("Yamada Hanako (山田 花子) creates her wallet", "山田 花子さんがウォレットを作ります")
        (workdir / "wallet").mkdir()
        store = WalletStore.create(workdir / "wallet" / WALLET_FILE, WALLET_PASSPHRASE, clock=clock)
        kit = create_wallet(store, wallet_ledger)
        genesis_document = json.loads(registry.config.genesis_file.read_text(encoding="utf-8"))
        # The folder `akashi-wallet --data` opens (after `akashi-registry serve` on the kept registry).
        LedgerSettings(registry.url, genesis_document, (witness_key,), 1).write(workdir / "wallet")
        wallet = Wallet(store, wallet_ledger, clock=clock)
        n.say(f"her identifier: {kit.did}", f"花子さんの識別子：{kit.did}")
        n.say(
            "its inception commits to the digest of a next key, kept offline as her recovery kit:",
            "識別子は作成時に次の鍵のダイジェストを確定しています。その鍵は復旧キットとしてオフラインで保管します：",
        )
        n.say(format_kit(kit)[:47] + "…")
        forget_recovery_keys(store)  # shown: from now on only the kit can rotate her identity
        n.check(
            store.keys("next", active_only=False) == [],
            "the wallet does not keep the recovery key",
            "ウォレットは復旧用の鍵を保持していません",
        )
        n.check(
            wallet_ledger.resolve_did(kit.did).document is not None,
            "her did:akashi is on the ledger, proven",
            "花子さんの did:akashi が台帳に載っていることを、証明付きで確認しました",
        )
        on_disk = (workdir / "wallet" / WALLET_FILE).read_bytes()
        n.check(
            kit.did.encode() not in on_disk,
            "the wallet file is encrypted (not even her DID is readable)",
            "ウォレットのファイルは暗号化されています（DIDさえ読み取れません）",
        )

        n.title(
            "At the counter: her My Number card signs the issuer's challenge (JPKI, method ワ)",
            "窓口で：花子さんのマイナンバーカードが発行者のチャレンジに署名します（JPKI、本人確認方法「ワ」）",
        )
        admin = {"authorization": "Bearer " + provider.admin_token}
        with httpx.Client(base_url=provider.url, timeout=30, headers=admin) as counter:
            check = check_card(counter, card)
            n.check(
                check.status_code == 201,
                "signature, certificate chain to the JPKI root, validity and CRL: all verified",
                "署名、JPKIルートまでの証明書チェーン、有効期間、失効リスト（CRL）をすべて検証しました",
            )
            licence_check = check_licence(counter, authority)
            n.check(
                licence_check.status_code == 201,
                "her driving licence's IC data: signed by the licence authority, face compared (method ヘ)",
                "運転免許証のICデータ：発行元の署名を検証し、顔写真を照合しました（本人確認方法「ヘ」）",
            )

        n.title(
            "Her wallet receives the credentials by OpenID4VCI, each anchored on the ledger",
            "ウォレットがOpenID4VCIで証明書を受け取ります（どれも台帳にアンカーされています）",
        )
        [kyc] = wallet.receive(check.json()["offer_url"])
        received = wallet.receive(licence_check.json()["offer_url"])
        credential = kyc.copies[0].sd_jwt
        n.say(
            f"KYC (JPKI): {len(kyc.copies)} copies, each bound to its own key; KYC (licence) and licence "
            f"credential: {len(received)} more",
            f"本人確認（JPKI）：{len(kyc.copies)}部、それぞれ別の鍵に紐づいています。"
            f"本人確認（運転免許証）と運転免許の証明書：さらに{len(received)}件",
        )
        signed_part = decoded_parts(credential.split("~")[0])
        n.check(
            all(s not in signed_part for s in SECRETS),
            "no personal value is readable in the signed JWT",
            "署名されたJWTからは個人情報をひとつも読み取れません",
        )
        anchor = kyc.copies[0].anchor or {}
        proof = parse_inclusion_proof(json.dumps(anchor["inclusion_proof"]))
        head = verify_checkpoint(anchor["checkpoint"].encode(), genesis.log_verifier(), origin=genesis.origin)
        proof.verify(leaf_hash(canonicalize(anchor["entry"])), head.root_hash)
        n.check(
            anchor["entry"]["body"]["digest"] == kyc.copies[0].digest,
            f"its digest is anchored at leaf {anchor['index']}; checked by hand here: the inclusion proof "
            f"leads to the signed checkpoint of {head.size} entries",
            f"そのダイジェストはリーフ {anchor['index']} にアンカーされています。ここでも手で確かめます："
            f"包含証明は{head.size}件のエントリーの署名付きチェックポイントにつながります",
        )

        n.title(
            f"{cars.legal_name} asks: KYC under jp_aml, over 20, a valid licence, name and address",
            f"{cars.legal_name}からの依頼：犯罪収益移転防止法（jp_aml）に基づく本人確認、20歳以上、"
            "有効な運転免許、氏名と住所",
        )
        request = wallet.open_request(cars.verifier.new_request("car-sharing").url)
        n.say(
            f"the wallet shows: {request.legal_name} (法人番号 {request.corporate_number}), "
            "from the trust registry",
            f"ウォレットの表示：{request.legal_name}（法人番号 {request.corporate_number}）、"
            "トラストレジストリの登録より",
        )
        n.say(f"purpose: {request.purpose_text}", f"利用目的：{request.purpose_text}")
        for claim in request.claims:
            n.say(f"  - {claim.label_ja} / {claim.label_en}", f"  - {claim.label_ja}")
        n.check(
            request.receipt_required and request.updates_allowed,
            "it asks to receive her future address changes, so a consent receipt is required",
            "今後の住所変更も受け取りたいという依頼なので、同意の受領証（コンセントレシート）が必要です",
        )
        approval = wallet.approve(request)
        consent = approval.consent
        n.check(
            consent is not None,
            "she approves: exactly these claims are presented, with key binding",
            "花子さんが同意します：キーバインディング付きで、これらの項目だけを提示します",
        )
        assert consent is not None
        grant = wallet_ledger.consent(consent.digest).record
        n.check(
            grant.verifier == cars.did and grant.updates_allowed,
            "her signed consent receipt is anchored on the ledger (consent.grant: digests and terms only)",
            "花子さんが署名した同意の受領証が台帳にアンカーされました（consent.grant：ダイジェストと条件のみ）",
        )
        car_customer = _customer(store, cars.did)
        status = cars.verifier.customers.kyc_status(car_customer)
        n.check(
            status.status == "verified" and status.policy == "car-sharing",
            f"the operator's backend: customer {car_customer[:28]}… is verified "
            f"({', '.join(status.methods)})",
            f"事業者のバックエンド：顧客 {car_customer[:28]}… は本人確認済みです"
            f"（{'、'.join(status.methods)}）",
        )

        n.title(
            f"{spaces.legal_name} asks only: KYC and over 18",
            f"{spaces.legal_name}の依頼は、本人確認と18歳以上であることだけです",
        )
        request = wallet.open_request(spaces.verifier.new_request("space-sharing").url)
        _say_claims(n, request)
        wallet.approve(request)
        space_customer = _customer(store, spaces.did)
        n.check(
            spaces.verifier.customers.kyc_status(space_customer).status == "verified",
            "verified: identity under jp_aml, over 18",
            "確認済み：犯罪収益移転防止法（jp_aml）に基づく本人確認、18歳以上",
        )
        space_status = spaces.verifier.customers.kyc_status(space_customer)
        if space_status.record_id is not None:
            kept = spaces.verifier.customers.disclosed_claims(space_status.record_id)
            for claims in kept.values():
                kept_text = json.dumps(claims, ensure_ascii=False)
                n.say(
                    f"what {spaces.legal_name} stored: {kept_text}",
                    f"{spaces.legal_name}が保存した内容：{kept_text}",
                )
        stored = b"".join(p.read_bytes() for p in (workdir / "space-sharing").glob("*.db*"))
        n.check(
            all(secret.encode() not in stored for secret in [*SECRETS, "山田", "301234567890"]),
            "what it stored holds no name, birth date, address or licence number",
            "保存された内容には、氏名、生年月日、住所、免許証番号のどれも含まれていません",
        )
        n.check(
            space_customer != car_customer,
            "the two operators know her by different pairwise DIDs: they cannot join their customer lists",
            "2社は花子さんをそれぞれ別のペアワイズDIDで知っています：顧客リストを突き合わせることはできません",
        )

        n.title("Tampering and replay are refused", "改ざんと再送（リプレイ）は拒否されます")
        issuer_key = provider.identity.signing_key.public_key
        nonce = b64url_encode(os.urandom(16))
        holder = store.key(kyc.copies[0].holder_key_id)
        wanted = [("age_over_20",), ("verified_claims", "claims", "family_name")]
        presentation = present(
            credential, wanted, holder_key=holder, nonce=nonce, aud="did:example:op", iat=now
        )
        tampered = presentation
        for original in presentation.split("~")[1:-1]:
            salt, name, _old = json.loads(b64url_decode(original))
            if name == "family_name":
                forged = b64url_encode(json.dumps([salt, name, "佐藤"], ensure_ascii=False).encode())
                tampered = presentation.replace(original, forged)
        for label_en, label_ja, candidate, expected_nonce in (
            ("the family name swapped for 佐藤 in its disclosure", "開示内容の姓を「佐藤」にすり替えたもの",
             tampered, nonce),
            ("the same presentation replayed to a new request", "同じ提示を新しい依頼に送り直したもの",
             presentation, b64url_encode(os.urandom(16))),
        ):  # fmt: skip
            try:
                verify(candidate, issuer_key, now=now, nonce=expected_nonce, aud="did:example:op")
            except AkashiError as error:
                why = f"{type(error).__name__}: {error}"
                n.check(True, f"{label_en}: refused ({why})", f"{label_ja}：拒否されました（{why}）")
            else:
                n.check(False, f"{label_en}: was accepted", f"{label_ja}：受け入れられてしまいました")
        seen = verify(presentation, issuer_key, now=now, nonce=nonce, aud="did:example:op").claims
        validate(seen, "kyc-credential-claims")
        framework = seen["verified_claims"]["verification"]["trust_framework"]
        methods = [e.get("jp_aml_method") for e in seen["verified_claims"]["verification"]["evidence"]]
        n.check(
            framework == "jp_aml" and methods == ["ワ"],
            f"identity verified under {framework}, method {methods[0]}",
            f"本人確認は{framework}（犯罪収益移転防止法）に基づき、方法「{methods[0]}」で行われています",
        )

        n.title(
            f"{locker.legal_name} asks for her name and address, to deliver parcels, with updates",
            f"{locker.legal_name}が、荷物を届けるために氏名と住所を、今後の変更の通知付きで求めます",
        )
        request = wallet.open_request(locker.verifier.new_request("parcel-locker").url)
        _say_claims(n, request)
        n.check(
            request.updates_allowed,
            "it asks to receive her future address changes",
            "今後の住所変更も受け取りたいという依頼です",
        )
        locker_consent = wallet.approve(request).consent
        n.check(
            locker_consent is not None,
            "she approves: name and address, nothing else",
            "花子さんが同意します：渡すのは氏名と住所だけで、ほかには何もありません",
        )
        assert locker_consent is not None
        locker_customer = _customer(store, locker.did)

        n.title(
            f"She moves to {NEW_ADDRESS}; the issuer re-checks her My Number card",
            f"花子さんが{NEW_ADDRESS}に引っ越します。発行者がマイナンバーカードを確認し直します",
        )
        moved_card = ca.issue_card(replace(HANAKO_CARD, address=NEW_ADDRESS), when)
        with httpx.Client(base_url=provider.url, timeout=30, headers=admin) as counter:
            recheck = check_card(counter, moved_card)
        n.check(
            recheck.status_code == 201,
            "her card's new certificate (the municipality recorded the move) verifies at the counter",
            "カードの新しい証明書（市区町村が転居を記録済み）を窓口で検証しました",
        )
        [new_kyc] = wallet.receive(recheck.json()["offer_url"])
        plan = plan_update(wallet, "address")
        for line in recipients_text(plan):
            n.say(line)
        n.check(
            {c.verifier for c in plan.recipients} == {cars.did, locker.did},
            f"{cars.legal_name} and {locker.legal_name} will receive it; {spaces.legal_name} will not: it "
            "never had her address",
            f"{cars.legal_name}と{locker.legal_name}が受け取ります。{spaces.legal_name}は受け取りません："
            "もともと住所を知らないからです",
        )
        deliveries = send_update(wallet, plan, None, when.date(), attest_with=new_kyc.id)
        n.check(
            all(d.error is None for d in deliveries),
            "one update, signed with each consent's pairwise key, with the issuer's attestation of the "
            "new address, sealed to each operator's X25519 key, posted to the mailbox in one batch",
            "更新は1回だけ：同意ごとのペアワイズ鍵で署名し、新住所についての発行者の証明を添え、"
            "各事業者のX25519鍵で封をして、まとめてメールボックスに送りました",
        )
        registry_bytes = b"".join(path.read_bytes() for path in registry.database_files)
        n.check(
            "中之島".encode() not in registry_bytes,
            "the registry holds the ciphertexts only: her new address appears nowhere in its files",
            "レジストリが持つのは暗号文だけです：新しい住所はどのファイルにも現れません",
        )
        for operator, customer in ((cars, car_customer), (locker, locker_customer)):
            [applied] = receive_updates(operator.verifier)
            current = operator.verifier.customers.current_value(customer, "address", when.date()) or {}
            n.check(
                applied.status == "applied" and applied.acked and NEW_ADDRESS in str(current),
                f"{operator.legal_name} fetches its mail (RFC 9421-signed), opens it, checks her signature, "
                "the consent and the issuer's attestation, applies it and acknowledges on the ledger",
                f"{operator.legal_name}がメールを受け取り（RFC 9421署名付き）、開封して、花子さんの署名、"
                "同意、発行者の証明を確かめ、変更を反映して、台帳上で受領を通知しました",
            )
        n.check(
            receive_updates(spaces.verifier) == [],
            f"{spaces.legal_name}'s mailbox is empty",
            f"{spaces.legal_name}のメールボックスは空です",
        )
        tracked = refresh_updates(wallet)
        n.check(
            [u.status for u in tracked] == ["applied", "applied"] and all(u.ack_anchor for u in tracked),
            "her wallet shows both as APPLIED, each with the ledger proof of the operator's signed ack",
            "ウォレットには2件とも「反映済み」と表示され、それぞれに事業者の署名付き受領通知の台帳証明があります",
        )

        n.title(
            f"She withdraws her consent to {locker.legal_name} and asks it to erase her data",
            f"花子さんが{locker.legal_name}への同意を撤回し、データの消去を求めます",
        )
        wallet.revoke(locker_consent.id)
        n.check(
            wallet_ledger.consent(locker_consent.digest).record.revoked_at is not None,
            "revoked on the ledger (consent.revoke signed by her pairwise key), effective at once",
            "台帳上で撤回されました（ペアワイズ鍵で署名したconsent.revoke）。ただちに有効です",
        )
        [erasure] = send_update(wallet, plan_update(wallet, "erasure", [locker.did]), None, when.date())
        [erased] = receive_updates(locker.verifier)
        restrictions = locker.verifier.customers.restrictions(locker_customer)
        n.check(
            erasure.error is None
            and erased.status == "applied"
            and [r["kind"] for r in restrictions] == ["erasure"],
            f"the erasure request (APPI Art. 35) reaches it although the consent is revoked; "
            f"{locker.legal_name} records it and acknowledges",
            "同意を撤回した後でも、消去の請求（個人情報保護法 第35条）は届きます。"
            f"{locker.legal_name}はこれを記録し、受領を通知しました",
        )
        correction = {"formatted": NEW_ADDRESS + " 中之島ビル5階"}
        [second] = send_update(wallet, plan_update(wallet, "address"), correction, when.date())
        [applied] = receive_updates(cars.verifier)
        n.check(
            second.verifier == cars.did
            and applied.status == "applied"
            and receive_updates(locker.verifier) == [],
            f"a second update (the floor number) reaches only {cars.legal_name}",
            f"2回目の更新（階数の追記）は{cars.legal_name}にだけ届きます",
        )

        n.title(
            "The issuer suspends her licence credential; car-sharing's recheck notices",
            "発行者が運転免許の証明書を一時停止します。カーシェア事業者の再確認がそれに気づきます",
        )
        with httpx.Client(base_url=provider.url, timeout=30) as counter:
            issued = counter.get("/admin/credentials", headers=admin).json()["credentials"]
            licences = [c["credential_id"] for c in issued if c["vct"].endswith("/vct/licence")]
            for credential_id in licences:
                counter.post(f"/admin/credentials/{credential_id}/suspend", headers=admin).raise_for_status()
        changes = cars.verifier.recheck()
        status = cars.verifier.customers.kyc_status(car_customer)
        n.check(
            any(c.status == "suspended" for c in changes) and status.status != "verified",
            f"the new status list is signed and anchored; her status at {cars.legal_name} is now "
            f"'{status.status}' ({'; '.join(status.reasons)})",
            f"新しいステータスリストが署名され、台帳にアンカーされました。{cars.legal_name}での花子さんの状態は"
            f"「{status.status}」になりました（{'; '.join(status.reasons)}）",
        )

        n.title("She exports her record for an auditor", "花子さんが監査人のために監査記録を書き出します")
        audit = workdir / "audit.jsonl"
        written = write_audit_jsonl(
            events_from_store(store), audit, wallet_did=kit.did, log_vkey=genesis.log_verifier().vkey
        )
        report = verify_audit(audit, witness_vkeys=[witness_key], k=1, expected_head=written.head)
        n.check(
            report.ok and report.events == written.events,
            f"{written.events} events (consents, presentations, updates and their acknowledgements, the "
            "revocation), each with its ledger proof, "
            "verified offline with nothing but the log's and the witness's keys",
            f"{written.events}件の記録（同意、提示、更新とその受領通知、撤回）を、それぞれの台帳証明とともに、"
            "ログとウィットネスの鍵だけを使ってオフラインで検証しました",
        )
        edited = workdir / "edited.jsonl"
        edited.write_text(
            audit.read_text(encoding="utf-8").replace("age_over_20", "age_over_18", 1), encoding="utf-8"
        )
        caught = verify_audit(edited, witness_vkeys=[witness_key], k=1, expected_head=written.head)
        found_at = caught.failures[0].line if caught.failures else "?"
        n.check(
            not caught.ok,
            f"one edited claim name is found: line {found_at}",
            f"書き換えた項目名1か所を見つけました：{found_at}行目",
        )
    finally:
        for operator in operators:
            operator.stop()
        provider.stop()
        if store is not None:
            store.close()
        wallet_ledger.close()
        ledger.close()

    n.title("Nothing personal is on the ledger", "台帳に個人情報はありません")
    stored = b"".join(path.read_bytes() for path in registry.database_files)
    found = [secret for secret in [*SECRETS, "山田", "301234567890", "中之島"] if secret.encode() in stored]
    n.check(
        not found,
        f"searched every byte of the registry's {len(registry.database_files)} database files: "
        "no name, birth date, address (old or new) or serial",
        f"レジストリの{len(registry.database_files)}個のデータベースファイルを1バイト残らず調べました："
        "氏名、生年月日、住所（旧・新）、シリアル番号はどこにもありません",
    )

    n.title("Nobody rewrites the ledger unnoticed", "台帳を誰にも気づかれずに書き換えることはできません")
    copy = workdir / "registry-tampered"
    shutil.copytree(workdir / "registry", copy)
    database = RegistryConfig(data_dir=copy).database
    with sqlite3.connect(database) as conn:
        query = "SELECT idx, data FROM entries WHERE type = 'consent.grant' LIMIT 1"
        index, data = conn.execute(query).fetchone()
        changed = bytearray(data)
        changed[len(changed) // 2] ^= 0x01  # one bit of one byte
        conn.execute("UPDATE entries SET data = ? WHERE idx = ?", (bytes(changed), index))
    code, _ = _registry_verify(workdir / "registry")
    n.check(
        code == 0,
        "`akashi-registry verify` on the registry's data: every entry, tile, checkpoint and derived "
        "record recomputed, all equal",
        "`akashi-registry verify` でレジストリのデータを検証：すべてのエントリー、タイル、チェックポイント、"
        "派生レコードを計算し直し、すべて一致しました",
    )
    code, verdict = _registry_verify(copy)
    n.check(
        code == 1 and verdict.get("table") == "entries" and verdict.get("index") == index,
        f"on a copy with one byte of leaf {index} changed, it finds it: {verdict.get('problem')}",
        f"リーフ {index} の1バイトを書き換えたコピーでは、改ざんを検出します：{verdict.get('problem')}",
    )


def _say_claims(n: Narrator, request: PresentationRequest) -> None:
    """The claims the wallet shows the person, in plain words, in the narration's language."""
    n.say(
        "the wallet shows: " + ", ".join(c.label_en for c in request.claims),
        "ウォレットの表示：" + "、".join(c.label_ja for c in request.claims),
    )


def _registry_verify(data: Path) -> tuple[int, dict[str, Any]]:
    """``akashi-registry verify --data DATA --json``: its exit status and its report."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = registry_cli(["verify", "--data", str(data), "--json"])
    report: dict[str, Any] = json.loads(out.getvalue())
    return code, report


def _customer(store: WalletStore, verifier_did: str) -> str:
    """The pairwise DID a verifier knows her by: the key of the copies it was shown."""
    for credential in store.credentials():
        for copy in credential.copies:
            if copy.used_by == verifier_did:
                return did_key_from_public_key(store.key(copy.holder_key_id).public_key)
    raise MalformedInput(f"nothing was shown to {verifier_did}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``akashi-demo``."""
    parser = argparse.ArgumentParser(prog="akashi-demo", description="A narrated walk through akashi.")
    parser.add_argument("--now", type=int, default=None, help="clock to use (Unix seconds)")
    parser.add_argument(
        "--keep", type=Path, default=os.environ.get("AKASHI_DEMO_KEEP") or None,
        help="keep every service's data in KEEP/<service>/ (also AKASHI_DEMO_KEEP); it must not exist yet",
    )  # fmt: skip
    parser.add_argument(
        "--lang", choices=LANGS, default=None,
        help="tell the story in Japanese or English (default: from LC_ALL, LC_MESSAGES or LANG)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    now = args.now if args.now is not None else int(time.time())
    lang: Lang = args.lang or language_from_env()
    try:
        if args.keep is not None:
            keep = Path(args.keep)
            if keep.exists() and any(keep.iterdir()):
                raise MalformedInput(f"{keep} is not empty: give a new folder to keep the demo's data in")
            keep.mkdir(parents=True, exist_ok=True)
            code = run(now, keep, lang=lang)
            if lang == "ja":
                print(f"すべてのサービスのデータを {keep}/ に残しました：registry、issuer、car-sharing、")
                print(f"space-sharing、parcel-locker、wallet（パスフレーズ：{WALLET_PASSPHRASE}）。例えば：")
            else:
                kept = "registry, issuer, car-sharing, space-sharing,"
                print(f"Every service's data is kept in {keep}/: {kept}")
                print(f"parcel-locker and wallet (passphrase: {WALLET_PASSPHRASE}); e.g.")
            print(f"  akashi-registry verify --data {keep}/registry")
            return code
        with tempfile.TemporaryDirectory(prefix="akashi-demo-") as workdir:
            return run(now, Path(workdir), lang=lang)
    except AkashiError as error:
        print(f"akashi-demo: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
