"""A local test CA for the evidence checks: JPKI-like root, CRLs, card certificates, a licence
authority and signed licence data — the logic behind ``akashi-issuer testca``.

Only the card reader is simulated (:func:`sign_challenge` signs with the card's key as the
card would: RSA PKCS#1 v1.5 / SHA-256); every certificate, CRL and signature is real and goes
through the same checks as a real card's. Nothing here is J-LIS's: the root says so in its
name. Keys are RSA 2048 for JPKI (as the cards), ECDSA P-256 for the licence authority.

Files in a test-CA folder (:meth:`JpkiTestCa.save`, :func:`save_issued`, :func:`save_licence`)::

    jpki-root.pem / jpki-root.key.pem                  the root: configure it as the JPKI trust anchor
    jpki-intermediate.pem / .key.pem                   optional issuing CA below the root
    jpki-root.crl.pem, jpki-intermediate.crl.pem       the CRLs (configure them; re-issued on revoke)
    jpki-state.json                                    revoked serials and the CRL counter
    card-<serial>.pem / card-<serial>.key.pem          a card's signature certificate and key
    licence-authority.pem / licence-authority.key.pem  the licence authority (configure the .pem)
    licence-<number>.json / licence-<number>.sig       signed licence data (JCS bytes, r||s bytes)

Private keys are written unencrypted with mode 0600: they are test keys.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from identity.credentials.kyc import LicenceCategory
from issuer.evidence.jpki import (
    OID_ADDRESS,
    OID_ADDRESS_SUBSTITUTES,
    OID_DATE_OF_BIRTH,
    OID_GENDER,
    OID_NAME,
    OID_NAME_SUBSTITUTES,
    JpkiTrust,
)
from issuer.evidence.licence import LicenceData

__all__ = [
    "HANAKO_CARD",
    "HANAKO_LICENCE",
    "CardHolder",
    "IssuedKey",
    "JpkiTestCa",
    "create_jpki_ca",
    "create_licence_authority",
    "era_digit",
    "load_issued",
    "load_licence",
    "save_issued",
    "save_licence",
    "sign_challenge",
    "sign_licence",
]

_YEAR = timedelta(days=365)
_JPKI_SIGN_POLICY = x509.ObjectIdentifier("1.2.392.200149.8.5.1.1.20")  # jpki-cp-sign-class20
# Japanese eras by first day, newest first (the JPKI date of birth starts with this digit).
_ERAS = ((date(2019, 5, 1), "5"), (date(1989, 1, 8), "4"), (date(1926, 12, 25), "3"),
         (date(1912, 7, 30), "2"))


def era_digit(day: date) -> str:
    """The JPKI era code of ``day``: 1 明治, 2 大正, 3 昭和, 4 平成, 5 令和."""
    return next((digit for first, digit in _ERAS if day >= first), "1")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: PrivateKeyTypes

    @property
    def der(self) -> bytes:
        """The certificate's DER bytes."""
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True, slots=True)
class CardHolder:
    """The basic four items to put in a card certificate."""

    name: str  # family name first, full-width space: 山田　花子
    birthdate: date
    gender: str  # JPKI code: "1" male, "2" female, "3" not known
    address: str


#: The story's test person, 山田 花子 (Yamada Hanako), as her test My Number card carries her.
HANAKO_CARD = CardHolder(
    name="山田　花子", birthdate=date(1998, 7, 15), gender="2", address="東京都千代田区霞が関2-1-2"
)
#: Her test driving licence (category 普通), as the licence authority signs its chip data.
HANAKO_LICENCE = LicenceData(
    licence_number="301234567890",
    name="山田　花子",
    birthdate=date(1998, 7, 15),
    address="東京都千代田区霞が関2-1-2",
    date_of_issuance=date(2024, 8, 1),
    date_of_expiry=date(2029, 8, 15),
    categories=(LicenceCategory.ORDINARY,),
    issuing_authority="東京都公安委員会",
)


def _utf8(text: str) -> bytes:
    """A DER UTF8String (the test CA's own encoder; jpki.py has the strict decoder)."""
    body = text.encode("utf-8")
    if len(body) < 0x80:
        return bytes([0x0C, len(body)]) + body
    if len(body) < 0x100:
        return bytes([0x0C, 0x81, len(body)]) + body
    return bytes([0x0C, 0x82]) + len(body).to_bytes(2, "big") + body


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ca_certificate(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: IssuedKey | None,
                    path_length: int, now: datetime, valid_for: timedelta) -> x509.Certificate:
    signer_key = key if issuer is None else issuer.key
    issuer_name = subject if issuer is None else issuer.certificate.subject
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + valid_for)
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    return builder.sign(signer_key, hashes.SHA256())  # type: ignore[arg-type]


@dataclass
class JpkiTestCa:
    """A JPKI-like signing CA: a root, optionally an issuing intermediate, and revocations."""

    root: IssuedKey
    intermediate: IssuedKey | None = None
    revoked: dict[int, datetime] = field(default_factory=dict)  # serial → revocation time
    crl_number: int = 0

    @property
    def issuing(self) -> IssuedKey:
        """The CA that signs card certificates."""
        return self.intermediate or self.root

    @property
    def intermediates_der(self) -> list[bytes]:
        """What a card reader hands over beside the card certificate."""
        return [] if self.intermediate is None else [self.intermediate.der]

    def issue_card(self, holder: CardHolder, now: datetime, *, valid_for: timedelta = 5 * _YEAR,
                   not_before: datetime | None = None) -> IssuedKey:
        """A card's signature certificate (署名用電子証明書) and its RSA 2048 key."""
        key = _rsa_key()
        items = [(OID_NAME, holder.name), (OID_NAME_SUBSTITUTES, ""),
                 (OID_DATE_OF_BIRTH, era_digit(holder.birthdate) + holder.birthdate.strftime("%Y%m%d")),
                 (OID_GENDER, holder.gender), (OID_ADDRESS, holder.address), (OID_ADDRESS_SUBSTITUTES, "")]
        start = now - timedelta(minutes=5) if not_before is None else not_before
        serial = x509.random_serial_number()
        issuer = self.issuing
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                                         x509.NameAttribute(NameOID.COMMON_NAME, f"{serial:040X}"[:20])]))
                .issuer_name(issuer.certificate.subject).public_key(key.public_key())
                .serial_number(serial).not_valid_before(start).not_valid_after(start + valid_for)
                .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                               critical=True)
                .add_extension(x509.SubjectAlternativeName(
                    [x509.OtherName(oid, _utf8(value)) for oid, value in items]), critical=False)
                .add_extension(x509.CertificatePolicies(
                    [x509.PolicyInformation(_JPKI_SIGN_POLICY, None)]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    issuer.certificate.public_key()), critical=False)  # type: ignore[arg-type]
                .sign(issuer.key, hashes.SHA256()))  # type: ignore[arg-type]
        return IssuedKey(cert, key)

    def revoke(self, serial: int, now: datetime) -> None:
        """Revoke a card (or the intermediate); :meth:`crls` then lists it."""
        self.revoked[serial] = now

    def crls(self, now: datetime, *,
             next_update: timedelta = timedelta(days=1)) -> list[x509.CertificateRevocationList]:
        """Freshly signed CRLs (thisUpdate = now, a new CRL number): the root's, then the intermediate's.

        The root lists the intermediate if it was revoked (with an intermediate it issued
        nothing else); the issuing CA lists the revoked cards.
        """
        self.crl_number += 1
        sub = None if self.intermediate is None else self.intermediate.certificate.serial_number
        out = []
        for ca in (self.root, self.intermediate):
            if ca is None:
                continue
            if sub is not None and ca is self.root:
                listed = {serial: when for serial, when in self.revoked.items() if serial == sub}
            else:
                listed = {serial: when for serial, when in self.revoked.items() if serial != sub}
            builder = (x509.CertificateRevocationListBuilder()
                       .issuer_name(ca.certificate.subject)
                       .last_update(now).next_update(now + next_update)
                       .add_extension(x509.CRLNumber(self.crl_number), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                           ca.certificate.public_key()), critical=False))  # type: ignore[arg-type]
            for serial, when in sorted(listed.items()):
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
            out.append(builder.sign(ca.key, hashes.SHA256()))  # type: ignore[arg-type]
        return out

    def trust(self, now: datetime) -> JpkiTrust:
        """A :class:`JpkiTrust` with this root and freshly signed CRLs."""
        return JpkiTrust(roots=(self.root.certificate,), crls=tuple(self.crls(now)))

    def save(self, folder: Path, now: datetime) -> None:
        """Write the CA, fresh CRLs and the revocation state into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        save_issued(self.root, folder, "jpki-root")
        if self.intermediate is not None:
            save_issued(self.intermediate, folder, "jpki-intermediate")
        for stem, crl in zip(("jpki-root", "jpki-intermediate"), self.crls(now), strict=False):
            (folder / f"{stem}.crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        state = {"crl_number": self.crl_number,
                 "revoked": {str(s): t.isoformat() for s, t in sorted(self.revoked.items())}}
        (folder / "jpki-state.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> JpkiTestCa:
        """Read a CA written by :meth:`save`."""
        state = json.loads((folder / "jpki-state.json").read_text(encoding="utf-8"))
        intermediate = (load_issued(folder, "jpki-intermediate")
                        if (folder / "jpki-intermediate.pem").exists() else None)
        return cls(root=load_issued(folder, "jpki-root"), intermediate=intermediate,
                   revoked={int(s): datetime.fromisoformat(t) for s, t in state["revoked"].items()},
                   crl_number=int(state["crl_number"]))


def create_jpki_ca(now: datetime, *, with_intermediate: bool = False,
                   name: str = "akashi test CA (not J-LIS)", valid_for: timedelta = 10 * _YEAR) -> JpkiTestCa:
    """A JPKI-like root (RSA 2048, self-signed), optionally with an issuing intermediate."""
    base = [x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "JPKI"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "JPKI for digital signature")]
    root_name = x509.Name([*base, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, name)])
    root_key = _rsa_key()
    root_cert = _ca_certificate(root_name, root_key, None, 1 if with_intermediate else 0, now, valid_for)
    root = IssuedKey(root_cert, root_key)
    if not with_intermediate:
        return JpkiTestCa(root=root)
    sub_name = x509.Name([*base, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, name + " issuing")])
    sub_key = _rsa_key()
    return JpkiTestCa(root=root, intermediate=IssuedKey(
        _ca_certificate(sub_name, sub_key, root, 0, now, valid_for), sub_key))


def create_licence_authority(now: datetime, *, name: str = "東京都公安委員会",
                             valid_for: timedelta = 15 * _YEAR,
                             not_before: datetime | None = None) -> IssuedKey:
    """A licence-issuing authority: a self-signed ECDSA P-256 certificate whose CN is ``name``.

    Valid by default from five years before ``now``, so that it covers the issuance dates of
    licences already in circulation (the check wants the certificate valid on that day).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
                         x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = now - 5 * _YEAR if not_before is None else not_before
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + valid_for)
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    return IssuedKey(cert, key)


def sign_licence(authority: IssuedKey, data: LicenceData) -> tuple[bytes, bytes]:
    """``(data bytes, signature)``: the canonical licence data and its ``r || s`` signature."""
    if not isinstance(authority.key, ec.EllipticCurvePrivateKey):
        raise TypeError("a licence authority key is ECDSA P-256")
    body = data.encode()
    r, s = decode_dss_signature(authority.key.sign(body, ec.ECDSA(hashes.SHA256())))
    return body, r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign_challenge(card_key: rsa.RSAPrivateKey | Path | str, challenge: bytes) -> bytes:
    """The simulated card reader: the card's RSA PKCS#1 v1.5 / SHA-256 signature over ``challenge``."""
    if isinstance(card_key, (Path, str)):
        loaded = serialization.load_pem_private_key(Path(card_key).read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise TypeError(f"{card_key} is not an RSA card key")
        card_key = loaded
    return card_key.sign(challenge, padding.PKCS1v15(), hashes.SHA256())


def save_issued(issued: IssuedKey, folder: Path, stem: str) -> None:
    """Write ``<stem>.pem`` (certificate) and ``<stem>.key.pem`` (PKCS#8 key, mode 0600)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.pem").write_bytes(issued.certificate.public_bytes(serialization.Encoding.PEM))
    key_pem = issued.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    key_path = folder / f"{stem}.key.pem"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)


def load_issued(folder: Path, stem: str) -> IssuedKey:
    """Read what :func:`save_issued` wrote."""
    cert = x509.load_pem_x509_certificate((folder / f"{stem}.pem").read_bytes())
    key = serialization.load_pem_private_key((folder / f"{stem}.key.pem").read_bytes(), password=None)
    return IssuedKey(cert, key)


def save_licence(folder: Path, data: bytes, signature: bytes) -> Path:
    """Write ``licence-<number>.json`` (the signed bytes, unchanged) and ``.sig``; the .json path."""
    number = json.loads(data)["licence_number"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"licence-{number}.json"
    path.write_bytes(data)
    path.with_suffix(".sig").write_bytes(signature)
    return path


def load_licence(path: Path) -> tuple[bytes, bytes]:
    """``(data, signature)`` from ``licence-<number>.json`` and its ``.sig``."""
    return path.read_bytes(), path.with_suffix(".sig").read_bytes()
