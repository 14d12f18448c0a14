"""A small, real ledger for the records tests: anchor entries in a MemoryTree, checkpoints
signed by a log key and cosigned by witnesses, status list tokens signed by the issuer."""

from __future__ import annotations

from typing import Any

from identity.credentials.consent import consent_digest, new_consent_receipt, sign_consent_receipt
from identity.credentials.sdjwt import VerifiedSdJwt
from identity.credentials.status_list import StatusList, sign_status_list_token
from identity.crypto.encoding import b64url_encode
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey
from identity.did.did_key import did_key_from_public_key
from identity.ledger.checkpoint import Checkpoint, sign_checkpoint
from identity.ledger.cosignature import CosignatureSigner, cosign
from identity.ledger.envelope import Envelope, entry_bytes, sign_envelope
from identity.ledger.note import Ed25519NoteSigner
from identity.ledger.proofs import InclusionProof
from identity.ledger.tree import MemoryTree
from verifier.export import AnchorProof
from verifier.pipeline import VerifiedCredential
from verifier.records import consent_record

T = 1_750_000_000  # 2025-06-15
ISSUER = "did:akashi:QmIssuer"
ISSUER_NAME = "株式会社テスト本人確認"
VERIFIER = "did:akashi:QmCarSharing"
STATUS_URI = "https://issuer.example/status/1"
LOG_NAME = "akashi.example/log"


class Ledger:
    """Entries, a tree, and keys to sign and cosign its checkpoints."""

    def __init__(self) -> None:
        self.issuer_key = Ed25519PrivateKey.from_seed(b"i" * 32)
        self.log = Ed25519NoteSigner(LOG_NAME, Ed25519PrivateKey.from_seed(b"l" * 32))
        self.witnesses = [
            CosignatureSigner(f"witness-{n}", Ed25519PrivateKey.from_seed(bytes([n]) * 32), T) for n in (1, 2)
        ]
        self.tree = MemoryTree()
        self.entries: list[Envelope] = []
        self.status = StatusList.new(2, 64)

    @property
    def log_vkey(self) -> str:
        return self.log.verifier().vkey

    @property
    def witness_vkeys(self) -> list[str]:
        return [w.verifier().vkey for w in self.witnesses]

    def append(self, entry_type: str, body: dict[str, Any], signer: str) -> int:
        envelope = sign_envelope(entry_type, body, signer + "#key-1", self.issuer_key)
        self.entries.append(envelope)
        return self.tree.append(entry_bytes(envelope))

    def note(self, size: int | None = None, *, cosigners: int = 2) -> str:
        size = self.tree.size if size is None else size
        note = sign_checkpoint(Checkpoint(LOG_NAME, size, self.tree.root(size)), self.log)
        for witness in self.witnesses[:cosigners]:
            note = cosign(note, witness.name, witness.key, timestamp=T)
        return note

    def anchor(self, index: int, note: str | None = None) -> AnchorProof:
        size = self.tree.size
        proof = InclusionProof(index, size, tuple(self.tree.inclusion_proof(index, size)))
        return AnchorProof(index, self.entries[index], proof, note or self.note(size))

    def status_token(self, *, iat: int = T) -> str:
        return sign_status_list_token(self.status, uri=STATUS_URI, iat=iat, key=self.issuer_key)


def credential(
    ledger: Ledger, holder: Ed25519PrivateKey, idx: int, claims: dict[str, Any], paths: list[tuple[Any, ...]]
) -> tuple[VerifiedCredential, int]:
    """A verified KYC credential (as the pipeline returns it) anchored on ``ledger``."""
    digest = b64url_encode(sha256(f"credential-{idx}".encode()))
    full = {"iss": ISSUER, "vct": "https://issuer.example/vct/kyc", "iat": T - 10, "exp": T + 86400 * 365,
            "status": {"status_list": {"idx": idx, "uri": STATUS_URI}}, **claims}
    body = {"digest": digest, "issuer": ISSUER, "vct": full["vct"], "method": "jpki", "iat": T - 10}
    index = ledger.append("attestation.anchor", body, ISSUER)
    result = VerifiedSdJwt({"alg": "EdDSA"}, full, [], [tuple(p) for p in paths], holder.public_key)
    return VerifiedCredential(ISSUER, ISSUER_NAME, digest, ("jpki",), index, result), index


KYC_CLAIMS = {
    "verified_claims": {"verification": {"trust_framework": "jp_aml", "evidence": []}},
    "age_over_20": True,
}


def consent(ledger: Ledger, holder: Ed25519PrivateKey) -> tuple[dict[str, Any], int]:
    """A signed consent receipt's record, and the index of its anchored grant."""
    receipt = new_consent_receipt(
        holder.public_key, verifier=VERIFIER, purpose_id="car-sharing",
        purpose="カーシェア会員登録の本人確認",
        claims=["age_over_20"], granted_at=T - 5, expires_at=T + 86400 * 365, updates_allowed=False,
        random=lambda n: b"r" * n,
    )
    token = sign_consent_receipt(receipt, holder)
    digest = consent_digest(token)
    holder_did = did_key_from_public_key(holder.public_key)
    grant = {"receipt_digest": digest, "verifier": VERIFIER, "expires_at": receipt.expires_at,
             "updates_allowed": False}
    index = ledger.append("consent.grant", grant, holder_did)
    return consent_record(digest, receipt.to_json()), index
