"""The one exception tree of akashi.

Every check that can fail raises one of these; a ``verify_*`` function returns
only on success. Each class carries a stable ``code`` that maps, in one table
(:data:`PROBLEM_TYPES`), to an RFC 9457 problem ``type`` and an HTTP status.

::

    AkashiError
    ├── MalformedInput            bytes or text that do not parse
    │   └── SchemaViolation       parsed, but not what the JSON Schema allows
    ├── VerificationError         parsed, but not trustworthy
    │   ├── InvalidSignature
    │   ├── ProofMismatch         Merkle inclusion / consistency, digests, sd_hash
    │   │   └── DigestMismatch    a Content-Digest (RFC 9530) that the content does not match
    │   ├── KeyStateError         wrong, unknown or retired key; bad key event log
    │   │   └── UnknownKey
    │   ├── TimeError             exp / nbf / iat outside the allowed window
    │   │   └── Expired
    │   ├── StatusError           a status list says the credential is not valid
    │   │   ├── Revoked
    │   │   └── Suspended
    │   ├── BindingError          key binding, nonce, audience
    │   ├── PolicyError           a policy (e.g. k-of-n cosigners) was not met
    │   └── UnsupportedAlgorithm
    ├── RejectedByRules           a ledger entry that breaks a consortium rule
    ├── ConsentError              no active consent covers the request
    ├── Unauthorized              the caller did not prove it may use this API
    │   └── WrongPassphrase       the passphrase does not open this wallet or backup
    ├── CorruptFile               a stored file that is damaged, altered or not ours
    │   ├── CorruptWallet
    │   └── CorruptBackup
    ├── UnsupportedVersion        a file written in a newer format than this code reads
    ├── NotFound
    └── RemoteError               a peer answered with an error or not at all

Messages are written for the person who has to act on them. Messages of
signature failures say nothing more than "invalid": they may reach a remote
caller.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

__all__ = [
    "PROBLEM_TYPES",
    "AkashiError",
    "BindingError",
    "ConsentError",
    "CorruptBackup",
    "CorruptFile",
    "CorruptWallet",
    "DigestMismatch",
    "Expired",
    "InvalidSignature",
    "KeyStateError",
    "MalformedInput",
    "NotFound",
    "PolicyError",
    "ProblemType",
    "ProofMismatch",
    "RejectedByRules",
    "RemoteError",
    "Revoked",
    "SchemaViolation",
    "StatusError",
    "Suspended",
    "TimeError",
    "Unauthorized",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "UnsupportedVersion",
    "VerificationError",
    "WrongPassphrase",
    "problem_document",
    "problem_type",
]


class AkashiError(Exception):
    """Root of every error akashi raises on purpose."""

    code: ClassVar[str] = "akashi-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedInput(AkashiError):
    """Input that cannot be parsed: bad base64, bad JSON, wrong structure."""

    code = "malformed-input"


class SchemaViolation(MalformedInput):
    """A wire object that parses but breaks its JSON Schema in ``specs/``."""

    code = "schema-violation"

    def __init__(self, message: str, *, schema: str = "", path: str = "") -> None:
        super().__init__(message)
        self.schema = schema
        self.path = path


class VerificationError(AkashiError):
    """Something parsed correctly but could not be trusted."""

    code = "verification-failed"


class InvalidSignature(VerificationError):
    """A signature did not verify under the expected key."""

    code = "invalid-signature"


class ProofMismatch(VerificationError):
    """A digest, Merkle proof or hash commitment did not match."""

    code = "proof-mismatch"


class DigestMismatch(ProofMismatch):
    """A ``Content-Digest`` field (RFC 9530) names a digest the received content does not have."""

    code = "digest-mismatch"


class KeyStateError(VerificationError):
    """A key is not (or no longer) authorised, or a key event log is inconsistent."""

    code = "key-state"


class UnknownKey(KeyStateError):
    """No key is known under the name that was given."""

    code = "unknown-key"


class TimeError(VerificationError):
    """A time claim (``exp``, ``nbf``, ``iat``) falls outside the allowed window."""

    code = "time"


class Expired(TimeError):
    """The object's validity has ended."""

    code = "expired"


class StatusError(VerificationError):
    """A status list marks the credential as not valid."""

    code = "status"


class Revoked(StatusError):
    """The issuer revoked the credential; this is permanent."""

    code = "revoked"


class Suspended(StatusError):
    """The issuer suspended the credential; it may become valid again."""

    code = "suspended"


class BindingError(VerificationError):
    """Key binding failed: wrong holder key, nonce, audience or ``sd_hash``."""

    code = "binding"


class PolicyError(VerificationError):
    """A trust policy (for instance k-of-n cosignatures) was not satisfied."""

    code = "policy"


class UnsupportedAlgorithm(VerificationError):
    """An algorithm, key type or critical extension that akashi does not accept."""

    code = "unsupported-algorithm"


class RejectedByRules(AkashiError):
    """A ledger entry that the consortium rules refuse at its position."""

    code = "rejected-by-rules"

    def __init__(self, message: str, *, rule: str = "") -> None:
        super().__init__(message)
        self.rule = rule


class ConsentError(AkashiError):
    """No active consent covers what was asked for."""

    code = "consent"


class Unauthorized(AkashiError):
    """The caller did not prove it may use this API (e.g. a missing operator credential)."""

    code = "unauthorized"


class WrongPassphrase(Unauthorized):
    """The passphrase does not open this wallet or backup (its key check failed)."""

    code = "wrong-passphrase"


class CorruptFile(AkashiError):
    """A file akashi stored is damaged, truncated, altered, or not one of ours at all."""

    code = "corrupt-file"


class CorruptWallet(CorruptFile):
    """The wallet file is not a wallet, or it was truncated or altered."""

    code = "corrupt-wallet"


class CorruptBackup(CorruptFile):
    """The backup file is not a wallet backup, or it was truncated or altered."""

    code = "corrupt-backup"


class UnsupportedVersion(AkashiError):
    """A file or encoding in a newer format version than this code can read."""

    code = "unsupported-version"


class NotFound(AkashiError):
    """The thing asked for does not exist."""

    code = "not-found"


class RemoteError(AkashiError):
    """A peer service failed, or answered with a problem document."""

    code = "remote"


class ProblemType(NamedTuple):
    """An RFC 9457 problem ``type`` URI with its HTTP status and title."""

    uri: str
    status: int
    title: str


_BASE = "https://akashi.example/problems/"

#: code -> RFC 9457 problem type. The URIs are stable identifiers, not links
#: anybody must be able to fetch.
PROBLEM_TYPES: dict[str, ProblemType] = {
    cls.code: ProblemType(_BASE + cls.code, status, title)
    for cls, status, title in (
        (AkashiError, 400, "Request failed"),
        (MalformedInput, 400, "Malformed input"),
        (SchemaViolation, 422, "Schema violation"),
        (VerificationError, 422, "Verification failed"),
        (InvalidSignature, 422, "Invalid signature"),
        (ProofMismatch, 422, "Proof mismatch"),
        (DigestMismatch, 422, "Content digest mismatch"),
        (KeyStateError, 422, "Key not authorised"),
        (UnknownKey, 422, "Unknown key"),
        (TimeError, 422, "Outside validity window"),
        (Expired, 422, "Expired"),
        (StatusError, 422, "Credential status not valid"),
        (Revoked, 422, "Revoked"),
        (Suspended, 422, "Suspended"),
        (BindingError, 422, "Key binding failed"),
        (PolicyError, 422, "Policy not satisfied"),
        (UnsupportedAlgorithm, 422, "Unsupported algorithm"),
        (RejectedByRules, 409, "Rejected by the ledger rules"),
        (ConsentError, 403, "No consent"),
        (Unauthorized, 401, "Unauthorized"),
        (WrongPassphrase, 401, "Wrong passphrase"),
        (CorruptFile, 422, "File damaged or altered"),
        (CorruptWallet, 422, "Wallet damaged or altered"),
        (CorruptBackup, 422, "Backup damaged or altered"),
        (UnsupportedVersion, 422, "Unsupported format version"),
        (NotFound, 404, "Not found"),
        (RemoteError, 502, "Remote service failed"),
    )
}


def problem_document(error: AkashiError, *, instance: str | None = None) -> dict[str, object]:
    """The RFC 9457 problem details object for ``error``.

    ``detail`` is the error's message; a rejected ledger entry adds the ``rule``
    it broke and a schema failure the JSON ``pointer`` of the offending field.
    """
    kind = problem_type(error)
    document: dict[str, object] = {
        "type": kind.uri,
        "title": kind.title,
        "status": kind.status,
        "detail": error.message,
    }
    if instance is not None:
        document["instance"] = instance
    if isinstance(error, RejectedByRules) and error.rule:
        document["rule"] = error.rule
    if isinstance(error, SchemaViolation) and error.path:
        document["pointer"] = error.path
    return document


def problem_type(error: AkashiError) -> ProblemType:
    """The RFC 9457 problem type for ``error`` (its own class's, or the nearest parent's)."""
    for cls in type(error).__mro__:
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code in PROBLEM_TYPES:
            return PROBLEM_TYPES[code]
    return PROBLEM_TYPES[AkashiError.code]
