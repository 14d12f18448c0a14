"""The JPKI signature check against a local test CA: every rule refuses with its own error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.credentials.kyc import Address, Verification, build_verified_claims
from identity.errors import (
    AkashiError,
    BindingError,
    Expired,
    InvalidSignature,
    KeyStateError,
    MalformedInput,
    PolicyError,
    Revoked,
    Suspended,
    TimeError,
    UnknownKey,
    UnsupportedAlgorithm,
)
from issuer.evidence import jpki
from issuer.evidence.challenges import ChallengeBook
from issuer.evidence.jpki import (
    OID_ADDRESS,
    OID_DATE_OF_BIRTH,
    OID_GENDER,
    OID_NAME,
    JpkiResult,
    JpkiTrust,
    verify_jpki_signature,
)
from issuer.evidence.testca import (
    CardHolder,
    IssuedKey,
    JpkiTestCa,
    create_jpki_ca,
    sign_challenge,
)

NOW = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
CHALLENGE = bytes(range(32))
HANAKO = CardHolder(name="山田　花子", birthdate=date(1998, 7, 15), gender="2",
                    address="東京都千代田区霞が関2-1-2")


@dataclass
class World:
    ca: JpkiTestCa  # root only, as real JPKI
    card: IssuedKey
    trust: JpkiTrust
    deep: JpkiTestCa  # root + intermediate
    deep_card: IssuedKey
    other: JpkiTestCa  # an unrelated CA
    other_card: IssuedKey


@pytest.fixture(scope="module")
def world() -> World:
    ca = create_jpki_ca(NOW - timedelta(days=30))
    deep = create_jpki_ca(NOW - timedelta(days=30), with_intermediate=True, name="deep test CA")
    other = create_jpki_ca(NOW - timedelta(days=30), name="other test CA")
    return World(ca=ca, card=ca.issue_card(HANAKO, NOW), trust=ca.trust(NOW), deep=deep,
                 deep_card=deep.issue_card(HANAKO, NOW), other=other,
                 other_card=other.issue_card(HANAKO, NOW))


def verify(world: World, card: IssuedKey | bytes | None = None, *, trust: JpkiTrust | None = None,
           intermediates: list[bytes] | None = None, challenge: bytes = CHALLENGE,
           signature: bytes | None = None, now: datetime = NOW) -> JpkiResult:
    card = world.card if card is None else card
    der = card if isinstance(card, bytes) else card.der
    if signature is None:
        assert isinstance(card, IssuedKey)
        assert isinstance(card.key, rsa.RSAPrivateKey)
        signature = sign_challenge(card.key, challenge)
    return verify_jpki_signature(der, intermediates or [], challenge, signature, trust or world.trust,
                                 now=now)


def custom_card(issuer: IssuedKey, public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
                change: Callable[[x509.CertificateBuilder], x509.CertificateBuilder] = lambda b: b, *,
                key_usage: x509.KeyUsage | None = None,
                items: list[tuple[x509.ObjectIdentifier, bytes]] | None = None,
                digest: hashes.HashAlgorithm | None = None) -> bytes:
    """A card certificate with the given changes, signed by ``issuer``; DER."""
    if key_usage is None:
        key_usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    if items is None:
        items = [(OID_NAME, utf8("山田　花子")), (OID_DATE_OF_BIRTH, utf8("419980715")),
                 (OID_GENDER, utf8("2")), (OID_ADDRESS, utf8("東京都千代田区霞が関2-1-2"))]
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "custom card")]))
               .issuer_name(issuer.certificate.subject).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=365))
               .add_extension(key_usage, critical=True))
    if items:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.OtherName(oid, value) for oid, value in items]), critical=False)
    cert = change(builder).sign(issuer.key, digest or hashes.SHA256())  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.DER)


def utf8(text: str) -> bytes:
    body = text.encode()
    return bytes([0x0C, len(body)]) + body


def signed_by_card(world: World, der: bytes) -> JpkiResult:
    """Verify ``der`` (certified for world.card's key) with a signature by that key."""
    assert isinstance(world.card.key, rsa.RSAPrivateKey)
    return verify(world, der, signature=sign_challenge(world.card.key, CHALLENGE))


def card_public_key(world: World) -> rsa.RSAPublicKey:
    key = world.card.key
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.public_key()


# --- accepted ------------------------------------------------------------------------------------


def test_a_card_signature_gives_the_basic_four_items(world: World) -> None:
    result = verify(world)
    assert result.person.family_name == "山田"
    assert result.person.given_name == "花子"
    assert result.person.birthdate == date(1998, 7, 15)
    assert result.person.gender == "female"
    assert result.person.address == Address(formatted="東京都千代田区霞が関2-1-2")
    assert result.basic_four.name == "山田　花子"
    assert result.basic_four.date_of_birth == "419980715"
    assert result.basic_four.gender == "2"


def test_the_evidence_names_the_certificate_by_issuer_and_serial(world: World) -> None:
    result = verify(world)
    evidence = result.evidence
    assert evidence.issuer == world.card.certificate.issuer.rfc4514_string()
    assert "O=JPKI" in evidence.issuer
    assert evidence.serial_number == str(world.card.certificate.serial_number)
    assert evidence.created_at == NOW
    claims = build_verified_claims(result.person, Verification(
        time=NOW, verification_process="kyc-0001", evidence=(evidence,)))
    assert claims["verification"]["evidence"][0]["jp_aml_method"] == "ワ"


def test_a_chain_through_an_intermediate_is_accepted(world: World) -> None:
    result = verify(world, world.deep_card, trust=world.deep.trust(NOW),
                    intermediates=world.deep.intermediates_der)
    assert result.person.given_name == "花子"


def test_the_root_may_be_sent_along_as_an_intermediate(world: World) -> None:
    verify(world, intermediates=[world.ca.root.der])


@pytest.mark.parametrize(("code", "gender"), [("1", "male"), ("2", "female"), ("3", None)])
def test_gender_codes(world: World, code: str, gender: str | None) -> None:
    items = [(OID_NAME, utf8("SMITH JOHN")), (OID_DATE_OF_BIRTH, utf8("319801231")),
             (OID_GENDER, utf8(code)), (OID_ADDRESS, utf8("東京都"))]
    result = signed_by_card(world, custom_card(world.ca.root, card_public_key(world), items=items))
    assert result.person.gender == gender
    assert (result.person.family_name, result.person.given_name) == ("SMITH", "JOHN")
    assert result.person.birthdate == date(1980, 12, 31)


def test_trust_loads_from_pem_and_der(world: World) -> None:
    crls = world.ca.crls(NOW)
    trust = JpkiTrust.load([world.ca.root.certificate.public_bytes(serialization.Encoding.PEM)],
                           [crls[0].public_bytes(serialization.Encoding.DER)])
    verify(world, trust=trust)


def test_the_issuer_flow_accepts_a_fresh_challenge_once(world: World) -> None:
    book = ChallengeBook()
    challenge = book.issue(NOW)
    signature = sign_challenge(world.card.key, challenge.value)  # type: ignore[arg-type]
    later = NOW + timedelta(seconds=30)
    verify(world, challenge=book.consume(challenge.id, later), signature=signature, now=later)
    with pytest.raises(BindingError):  # the same response again
        book.consume(challenge.id, later)


# --- refused: signature and chain ------------------------------------------------------------------


def test_a_signature_over_another_challenge_is_refused(world: World) -> None:
    assert isinstance(world.card.key, rsa.RSAPrivateKey)
    with pytest.raises(InvalidSignature):
        verify(world, signature=sign_challenge(world.card.key, b"another challenge"))


def test_a_signature_by_another_card_is_refused(world: World) -> None:
    assert isinstance(world.other_card.key, rsa.RSAPrivateKey)
    with pytest.raises(InvalidSignature):
        verify(world, signature=sign_challenge(world.other_card.key, CHALLENGE))


def test_a_card_of_another_root_is_refused(world: World) -> None:
    with pytest.raises(UnknownKey):
        verify(world, world.other_card)


def test_an_impostor_root_with_the_same_name_is_refused(world: World) -> None:
    impostor_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = IssuedKey(world.ca.root.certificate, impostor_key)  # the real name, another key
    der = custom_card(impostor, card_public_key(world))
    with pytest.raises(InvalidSignature):
        signed_by_card(world, der)


def test_a_missing_intermediate_is_refused(world: World) -> None:
    with pytest.raises(UnknownKey):
        verify(world, world.deep_card, trust=world.deep.trust(NOW))


def test_a_chain_longer_than_allowed_is_refused(world: World) -> None:
    short = JpkiTrust(roots=(world.deep.root.certificate,), crls=tuple(world.deep.crls(NOW)), max_chain=2)
    with pytest.raises(PolicyError):
        verify(world, world.deep_card, trust=short, intermediates=world.deep.intermediates_der)


def test_a_card_certificate_cannot_issue_cards(world: World) -> None:
    as_issuer = IssuedKey(world.card.certificate, world.card.key)
    der = custom_card(as_issuer, card_public_key(world))
    trust = world.trust.with_crls([*world.trust.crls, *world.ca.crls(NOW)])
    with pytest.raises(KeyStateError, match="not a CA"):
        verify(world, der, intermediates=[world.card.der], trust=trust,
               signature=sign_challenge(world.card.key, CHALLENGE))  # type: ignore[arg-type]


def test_a_ca_certificate_is_not_a_card(world: World) -> None:
    as_ca = x509.BasicConstraints(ca=True, path_length=None)
    der = custom_card(world.ca.root, card_public_key(world), lambda b: b.add_extension(as_ca, critical=True))
    with pytest.raises(KeyStateError):
        signed_by_card(world, der)


def test_an_unknown_critical_extension_is_refused(world: World) -> None:
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    der = custom_card(world.ca.root, card_public_key(world),
                      lambda b: b.add_extension(unknown, critical=True))
    with pytest.raises(UnsupportedAlgorithm):
        signed_by_card(world, der)


def test_a_card_signed_with_a_hash_weaker_than_sha256_is_refused(world: World) -> None:
    der = custom_card(world.ca.root, card_public_key(world), digest=hashes.SHA224())
    with pytest.raises(UnsupportedAlgorithm):
        signed_by_card(world, der)


def test_a_card_key_without_signing_usage_is_refused(world: World) -> None:
    encipher_only = x509.KeyUsage(False, False, True, False, False, False, False, False, False)
    der = custom_card(world.ca.root, card_public_key(world), key_usage=encipher_only)
    with pytest.raises(KeyStateError, match="keyUsage"):
        signed_by_card(world, der)


def test_a_non_rsa_card_key_is_refused(world: World) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    der = custom_card(world.ca.root, ec_key.public_key())
    with pytest.raises(UnsupportedAlgorithm):
        verify(world, der, signature=b"\x00" * 64)


# --- refused: time and revocation ----------------------------------------------------------------


def test_an_expired_card_is_refused(world: World) -> None:
    old = world.ca.issue_card(HANAKO, NOW, not_before=NOW - timedelta(days=6 * 365),
                              valid_for=timedelta(days=5 * 365))
    with pytest.raises(Expired):
        verify(world, old)


def test_a_card_not_yet_valid_is_refused_but_not_as_expired(world: World) -> None:
    future = world.ca.issue_card(HANAKO, NOW, not_before=NOW + timedelta(days=1))
    with pytest.raises(TimeError) as caught:
        verify(world, future)
    assert type(caught.value) is TimeError


def test_a_revoked_card_is_refused(world: World) -> None:
    ca = create_jpki_ca(NOW - timedelta(days=1))
    card = ca.issue_card(HANAKO, NOW)
    verify(world, card, trust=ca.trust(NOW))
    ca.revoke(card.certificate.serial_number, NOW)
    with pytest.raises(Revoked):
        verify(world, card, trust=ca.trust(NOW))


def test_a_card_on_hold_is_suspended(world: World) -> None:
    entry = (x509.RevokedCertificateBuilder().serial_number(world.card.certificate.serial_number)
             .revocation_date(NOW - timedelta(hours=1))
             .add_extension(x509.CRLReason(x509.ReasonFlags.certificate_hold), critical=False).build())
    crl = crl_of(world.ca.root, NOW - timedelta(hours=1), NOW + timedelta(days=1), [entry])
    with pytest.raises(Suspended):
        verify(world, trust=world.trust.with_crls([crl]))


def test_a_revoked_intermediate_is_refused(world: World) -> None:
    deep = create_jpki_ca(NOW - timedelta(days=1), with_intermediate=True)
    card = deep.issue_card(HANAKO, NOW)
    assert deep.intermediate is not None
    deep.revoke(deep.intermediate.certificate.serial_number, NOW)
    with pytest.raises(Revoked):
        verify(world, card, trust=deep.trust(NOW), intermediates=deep.intermediates_der)


def test_a_stale_crl_is_refused(world: World) -> None:
    stale = world.ca.crls(NOW - timedelta(days=3), next_update=timedelta(days=1))
    with pytest.raises(PolicyError, match="stale"):
        verify(world, trust=world.trust.with_crls(stale))


def test_a_crl_from_the_future_is_not_current(world: World) -> None:
    future = world.ca.crls(NOW + timedelta(hours=1))
    with pytest.raises(PolicyError, match="stale"):
        verify(world, trust=world.trust.with_crls(future))


def test_no_crl_means_unknown_status(world: World) -> None:
    with pytest.raises(PolicyError, match="no CRL"):
        verify(world, trust=world.trust.with_crls([]))


def test_a_crl_signed_by_someone_else_is_refused(world: World) -> None:
    forged = crl_of(IssuedKey(world.ca.root.certificate, world.other.root.key), NOW - timedelta(hours=1),
                    NOW + timedelta(days=1), [])
    with pytest.raises(InvalidSignature):
        verify(world, trust=world.trust.with_crls([*world.trust.crls, forged]))


def test_a_delta_crl_is_not_accepted_as_configuration(world: World) -> None:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(world.ca.root.certificate.subject)
               .last_update(NOW).next_update(NOW + timedelta(days=1))
               .add_extension(x509.DeltaCRLIndicator(1), critical=True))
    delta = builder.sign(world.ca.root.key, hashes.SHA256())  # type: ignore[arg-type]
    with pytest.raises(UnsupportedAlgorithm):
        world.trust.with_crls([delta])


def crl_of(signer: IssuedKey, this_update: datetime, next_update: datetime,
           entries: list[x509.RevokedCertificate]) -> x509.CertificateRevocationList:
    builder = (x509.CertificateRevocationListBuilder().issuer_name(signer.certificate.subject)
               .last_update(this_update).next_update(next_update))
    for entry in entries:
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(signer.key, hashes.SHA256())  # type: ignore[arg-type]


# --- refused: malformed input and personal data ----------------------------------------------------


def test_bytes_that_are_no_certificate_are_malformed(world: World) -> None:
    with pytest.raises(MalformedInput):
        verify(world, b"\x30\x03\x02\x01\x01", signature=b"x")


def test_limits_are_checked_before_parsing(world: World) -> None:
    with pytest.raises(MalformedInput, match="larger"):
        verify(world, b"\x30" * 20_000, signature=b"x")
    with pytest.raises(MalformedInput, match="intermediate"):
        verify(world, intermediates=[world.ca.root.der] * 5)


@pytest.mark.parametrize("items", [
    pytest.param([(OID_NAME, utf8("山田　花子"))], id="missing items"),
    pytest.param([], id="no subjectAltName"),
    pytest.param([(OID_NAME, utf8("山田　花子")), (OID_NAME, utf8("山田　太郎")),
                  (OID_DATE_OF_BIRTH, utf8("419980715")), (OID_GENDER, utf8("2")),
                  (OID_ADDRESS, utf8("東京都"))], id="duplicate name"),
    pytest.param([(OID_NAME, b"\x13\x04ABCD"), (OID_DATE_OF_BIRTH, utf8("419980715")),
                  (OID_GENDER, utf8("2")), (OID_ADDRESS, utf8("東京都"))], id="PrintableString"),
    pytest.param([(OID_NAME, utf8("山田花子")), (OID_DATE_OF_BIRTH, utf8("419980715")),
                  (OID_GENDER, utf8("2")), (OID_ADDRESS, utf8("東京都"))], id="name without space"),
    pytest.param([(OID_NAME, utf8("山田　花子")), (OID_DATE_OF_BIRTH, utf8("419980700")),
                  (OID_GENDER, utf8("2")), (OID_ADDRESS, utf8("東京都"))], id="incomplete birth date"),
    pytest.param([(OID_NAME, utf8("山田　花子")), (OID_DATE_OF_BIRTH, utf8("1998-07-15")),
                  (OID_GENDER, utf8("2")), (OID_ADDRESS, utf8("東京都"))], id="ISO birth date"),
    pytest.param([(OID_NAME, utf8("山田　花子")), (OID_DATE_OF_BIRTH, utf8("419980715")),
                  (OID_GENDER, utf8("F")), (OID_ADDRESS, utf8("東京都"))], id="unknown gender code"),
])
def test_bad_personal_data_is_malformed(world: World,
                                       items: list[tuple[x509.ObjectIdentifier, bytes]]) -> None:
    der = custom_card(world.ca.root, card_public_key(world), items=items)
    with pytest.raises(MalformedInput):
        signed_by_card(world, der)


@pytest.mark.parametrize("der", [b"\x0c\x81\x04ABCD", b"\x0c\x82\x00\x04ABCD", b"\x0c\x05ABCD",
                                 b"\x0c\x03ABCD", b"\x0c\x02\xff\xfe", b"\x0c", b""])
def test_personal_data_must_be_one_der_utf8_string(der: bytes) -> None:
    with pytest.raises(MalformedInput):
        jpki._der_utf8_string(der)


def test_long_items_use_der_long_lengths(world: World) -> None:
    address = "北海道札幌市中央区北一条西二丁目一番地" * 8  # 456 bytes of UTF-8
    card = world.ca.issue_card(CardHolder("山田　花子", date(1998, 7, 15), "2", address), NOW)
    result = verify(world, card)
    assert result.person.address == Address(formatted=address)
    assert jpki._der_utf8_string(b"\x0c\x81\x80" + b"a" * 128) == "a" * 128


def test_a_naive_time_is_a_programming_error(world: World) -> None:
    with pytest.raises(ValueError, match="aware"):
        verify(world, now=NOW.replace(tzinfo=None))


def test_a_root_that_is_no_ca_cannot_be_configured(world: World) -> None:
    with pytest.raises(KeyStateError):
        JpkiTrust(roots=(world.card.certificate,))


@pytest.mark.filterwarnings("ignore:Parsed a serial number")  # a flip can make it negative
@settings(max_examples=80, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_flipped_byte_is_refused_with_an_akashi_error(world: World, data: st.DataObject) -> None:
    assert isinstance(world.deep_card.key, rsa.RSAPrivateKey)
    parts = {"certificate": world.deep_card.der, "intermediate": world.deep.intermediates_der[0],
             "signature": sign_challenge(world.deep_card.key, CHALLENGE)}
    target = data.draw(st.sampled_from(sorted(parts)))
    blob = bytearray(parts[target])
    blob[data.draw(st.integers(0, len(blob) - 1))] ^= data.draw(st.integers(1, 255))
    parts[target] = bytes(blob)
    with pytest.raises(AkashiError):
        verify_jpki_signature(parts["certificate"], [parts["intermediate"]], CHALLENGE, parts["signature"],
                              world.deep.trust(NOW), now=NOW)
