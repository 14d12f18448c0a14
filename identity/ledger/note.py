"""C2SP signed-note v1.0.0: text signed by one or more named keys.

::

    <text, ending in a newline>
    <blank line>
    — <key name> base64(4-byte key ID || signature)
    …

Syntax (section "Format"), checked by :func:`parse_note_unverified`:

1. The note is at most :attr:`NoteLimits.max_bytes` long (checked first).
2. It is UTF-8 with no control character below U+0020 other than newline.
3. The text is everything up to and including the newline before the *last*
   blank line; it must hold more than that newline.
4. The signature block after the blank line is non-empty and ends in a newline.
5. Each of its lines is em dash, space, key name, space, canonical standard
   base64 of at least 5 bytes (4-byte key ID, then the signature).
6. Key names are non-empty, without Unicode spaces or ``+``.
7. There are at most :attr:`NoteLimits.max_signatures` lines (the spec
   requires accepting 16; golang.org/x/mod accepts 100, as we do).

Trust (section "Signatures"), checked by :func:`verify_note`:

8. A signature whose (name, key ID) matches no known key is ignored.
9. A signature from a known key must verify; if not, the whole note is
   refused (the spec allows this and it is the safe choice).
10. At least one signature from a known key must verify.

Verifier keys are ``<name>+<8 hex digits of key ID>+base64(type || key)``, split
on the first two ``+`` only (base64 may contain ``+``). For Ed25519 (type
``0x01``) the key ID is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from identity.crypto.encoding import b64decode_std, b64encode_std
from identity.crypto.hashing import sha256
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.errors import MalformedInput, UnknownKey, UnsupportedAlgorithm

__all__ = [
    "DEFAULT_LIMITS",
    "ED25519",
    "Ed25519NoteSigner",
    "Ed25519NoteVerifier",
    "Note",
    "NoteLimits",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "VerifiedNote",
    "VerifiedSignature",
    "VerifierKey",
    "add_signatures",
    "check_key_name",
    "format_vkey",
    "key_id",
    "parse_note_unverified",
    "parse_signer_key",
    "parse_vkey",
    "sign_note",
    "verify_note",
]

#: Signature type byte of plain Ed25519 note signatures.
ED25519 = 0x01
_KEY_ID_LEN = 4
_SIG_PREFIX = "— "
_HEX8 = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True, slots=True)
class NoteLimits:
    """Limits checked before any signature work."""

    max_bytes: int = 256 * 1024
    max_signatures: int = 100


DEFAULT_LIMITS = NoteLimits()


def check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid key name (rule 6); raise :class:`MalformedInput`."""
    if not name or any(_is_space_or_control(ch) or ch == "+" for ch in name):
        raise MalformedInput("key name must be non-empty, without spaces, '+' or control characters")
    return name


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """``SHA-256(name || 0x0A || type || public key)[:4]``, the key ID signed notes use."""
    return sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key)[:_KEY_ID_LEN]


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A decoded verifier key string: name, key ID, signature type and key bytes."""

    name: str
    key_id: bytes
    sig_type: int
    key: bytes


def parse_vkey(vkey: str, *, derived_id_types: Iterable[int] = (ED25519,)) -> VerifierKey:
    """Decode ``<name>+<hex key ID>+<base64(type || key)>``.

    For signature types in ``derived_id_types`` the key ID must be the one the
    spec derives from name, type and key; other types are returned unchecked.
    """
    parts = vkey.split("+", 2)  # the base64 part may itself contain '+'
    if len(parts) != 3:
        raise MalformedInput("verifier key must be <name>+<key ID>+<key>")
    name, hex_id, b64 = parts
    check_key_name(name)
    if _HEX8.fullmatch(hex_id) is None:
        raise MalformedInput("verifier key ID must be 8 lower-case hex digits")
    data = b64decode_std(b64, what="verifier key")
    if len(data) < 2:
        raise MalformedInput("verifier key has no key material")
    parsed = VerifierKey(name, bytes.fromhex(hex_id), data[0], data[1:])
    derived = parsed.key_id == key_id(name, parsed.sig_type, parsed.key)
    if parsed.sig_type in set(derived_id_types) and not derived:
        raise MalformedInput("verifier key ID does not match its name and key")
    return parsed


def format_vkey(name: str, sig_type: int, public_key: bytes) -> str:
    """Encode a verifier key string."""
    check_key_name(name)
    kid = key_id(name, sig_type, public_key)
    return f"{name}+{kid.hex()}+{b64encode_std(bytes([sig_type]) + public_key)}"


class NoteVerifier(Protocol):
    """One known key: its name and key ID, and how to check its signatures."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    @property
    def public_key(self) -> Ed25519PublicKey: ...

    def verify(self, text: bytes, signature: bytes) -> None:
        """Return if ``signature`` (key ID removed) signs ``text``; raise InvalidSignature."""
        ...


class NoteSigner(Protocol):
    """One signing key with its name and key ID."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, text: bytes) -> bytes:
        """The signature over ``text`` (without the key ID)."""
        ...


@dataclass(frozen=True, slots=True)
class Ed25519NoteVerifier:
    """A known Ed25519 (type ``0x01``) note key."""

    name: str
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @classmethod
    def from_vkey(cls, vkey: str) -> Ed25519NoteVerifier:
        """The verifier for an Ed25519 verifier key string."""
        parsed = parse_vkey(vkey)
        if parsed.sig_type != ED25519:
            raise UnsupportedAlgorithm(f"verifier key type {parsed.sig_type:#04x} is not Ed25519")
        return cls(parsed.name, Ed25519PublicKey(parsed.key))

    @property
    def key_id(self) -> bytes:
        """The derived 4-byte key ID."""
        return key_id(self.name, ED25519, self.public_key.raw)

    @property
    def vkey(self) -> str:
        """This key as a verifier key string."""
        return format_vkey(self.name, ED25519, self.public_key.raw)

    def verify(self, text: bytes, signature: bytes) -> None:
        """Return if ``signature`` is this key's Ed25519 signature of ``text``."""
        self.public_key.verify(signature, text)


@dataclass(frozen=True, slots=True)
class Ed25519NoteSigner:
    """An Ed25519 (type ``0x01``) note signing key."""

    name: str
    key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> bytes:
        """The derived 4-byte key ID."""
        return key_id(self.name, ED25519, self.key.public_key.raw)

    def verifier(self) -> Ed25519NoteVerifier:
        """The matching verifier."""
        return Ed25519NoteVerifier(self.name, self.key.public_key)

    def sign(self, text: bytes) -> bytes:
        """The Ed25519 signature of ``text``."""
        return self.key.sign(text)


def parse_signer_key(skey: str) -> Ed25519NoteSigner:
    """Decode a ``PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || seed)`` signer key."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise MalformedInput("signer key must be PRIVATE+KEY+<name>+<key ID>+<key>")
    _, _, name, hex_id, b64 = parts
    parsed = parse_vkey(f"{name}+{hex_id}+{b64}", derived_id_types=())
    if parsed.sig_type != ED25519:
        raise UnsupportedAlgorithm(f"signer key type {parsed.sig_type:#04x} is not Ed25519")
    signer = Ed25519NoteSigner(name, Ed25519PrivateKey.from_seed(parsed.key))
    if signer.key_id != parsed.key_id:  # the ID is of the public key, derived from the seed
        raise MalformedInput("signer key ID does not match its name and key")
    return signer


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key ID, and the signature bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, with its final newline."""
        return f"{_SIG_PREFIX}{self.name} {b64encode_std(self.key_id + self.signature)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed, *unverified* note: do not act on ``text`` before :func:`verify_note`."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """A signature that verified, with the known key that made it."""

    verifier: NoteVerifier
    signature: bytes


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    """A note whose text is signed by at least one known key."""

    text: str
    verified: tuple[VerifiedSignature, ...]
    unverified: tuple[NoteSignature, ...]

    def signed_by(self, verifier: NoteVerifier) -> bool:
        """Whether ``verifier``'s key (same name and key ID) signed the text."""
        return any(_same_key(v.verifier, verifier) for v in self.verified)


def parse_note_unverified(data: bytes | str, *, limits: NoteLimits = DEFAULT_LIMITS) -> Note:
    """Check the syntax of a signed note (rules 1–7) and split text from signatures."""
    raw = _as_bytes(data)
    if len(raw) > limits.max_bytes:  # 1
        raise MalformedInput(f"note is longer than {limits.max_bytes} bytes")
    try:  # 2
        msg = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput("note is not UTF-8") from exc
    if any(ch < " " and ch != "\n" for ch in msg):
        raise MalformedInput("note holds a control character")
    split = msg.rfind("\n\n")  # 3
    if split < 0:
        raise MalformedInput("note has no blank line before its signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if text == "\n":
        raise MalformedInput("note text is empty")
    if not block.endswith("\n"):  # 4 (an empty block does not end in a newline)
        raise MalformedInput("note signatures must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > limits.max_signatures:  # 7
        raise MalformedInput(f"note has more than {limits.max_signatures} signatures")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def verify_note(
    data: bytes | str, verifiers: Iterable[NoteVerifier], *, limits: NoteLimits = DEFAULT_LIMITS
) -> VerifiedNote:
    """Verify a signed note against the known keys ``verifiers`` (rules 1–10)."""
    note = parse_note_unverified(data, limits=limits)
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for v in verifiers:
        slot = (v.name, v.key_id)
        if slot in known and not _same_key(known[slot], v):
            raise ValueError(f"two known keys share the name {v.name!r} and key ID")
        known[slot] = v
    text = note.text.encode("utf-8")
    verified: list[VerifiedSignature] = []
    unverified: dict[NoteSignature, None] = {}  # ordered, without repeats
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:  # 8
            unverified[sig] = None
            continue
        verifier.verify(text, sig.signature)  # 9: raises InvalidSignature
        verified.append(VerifiedSignature(verifier, sig.signature))
    if not verified:  # 10
        raise UnknownKey("note is not signed by any known key")
    return VerifiedNote(note.text, tuple(verified), tuple(unverified))


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """A signed note of ``text`` (which must end in a newline) by each of ``signers``."""
    _check_text(text)
    if not signers:
        raise ValueError("a signed note needs at least one signer")
    body = text.encode("utf-8")
    lines = [NoteSignature(s.name, s.key_id, s.sign(body)).line() for s in signers]
    return text + "\n" + "".join(lines)


def add_signatures(
    note: bytes | str, signers: Sequence[NoteSigner], *, limits: NoteLimits = DEFAULT_LIMITS
) -> str:
    """Append signatures by ``signers`` to a signed note, as a witness does.

    Existing lines are kept unchanged, except one by the same name and key ID
    as a new signer, which the new signature replaces. The caller verifies the
    note *before* adding its own signature.
    """
    parsed = parse_note_unverified(note, limits=limits)
    body = parsed.text.encode("utf-8")
    fresh = [NoteSignature(s.name, s.key_id, s.sign(body)) for s in signers]
    replaced = {(s.name, s.key_id) for s in fresh}
    kept = [s for s in parsed.signatures if (s.name, s.key_id) not in replaced]
    return parsed.text + "\n" + "".join(s.line() for s in [*kept, *fresh])


def _parse_signature_line(line: str) -> NoteSignature:
    # 5
    if not line.startswith(_SIG_PREFIX):
        raise MalformedInput("note signature line must start with an em dash and a space")
    name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep:
        raise MalformedInput("note signature line must be '— <name> <signature>'")
    check_key_name(name)  # 6
    raw = b64decode_std(b64, what="note signature")
    if len(raw) <= _KEY_ID_LEN:
        raise MalformedInput("note signature is too short")
    return NoteSignature(name, raw[:_KEY_ID_LEN], raw[_KEY_ID_LEN:])


def _check_text(text: str) -> None:
    if not text.endswith("\n") or text == "\n":
        raise MalformedInput("note text must be non-empty and end with a newline")
    if any(ch < " " and ch != "\n" for ch in text):
        raise MalformedInput("note text holds a control character")


def _as_bytes(data: bytes | str) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        return data.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInput("note is not valid Unicode text") from exc


def _is_space_or_control(ch: str) -> bool:
    # Unicode spaces as Go's unicode.IsSpace sees them: White_Space and Z* categories.
    return ch.isspace() or unicodedata.category(ch) in ("Zs", "Zl", "Zp") or ch < " "


def _same_key(a: NoteVerifier, b: NoteVerifier) -> bool:
    return (a.name, a.key_id, a.public_key) == (b.name, b.key_id, b.public_key)
