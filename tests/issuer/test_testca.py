"""The test CA: JPKI-like certificates and CRLs, a licence authority, files, the card reader."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from identity.credentials.kyc import FaceComparison, LicenceCategory
from identity.errors import Revoked
from issuer.evidence.jpki import (
    OID_ADDRESS,
    OID_ADDRESS_SUBSTITUTES,
    OID_DATE_OF_BIRTH,
    OID_GENDER,
    OID_NAME,
    OID_NAME_SUBSTITUTES,
    JpkiTrust,
    read_basic_four,
    verify_jpki_signature,
)
from issuer.evidence.licence import LicenceData, LicenceTrust, verify_licence
from issuer.evidence.testca import (
    CardHolder,
    IssuedKey,
    JpkiTestCa,
    create_jpki_ca,
    create_licence_authority,
    era_digit,
    load_issued,
    load_licence,
    save_issued,
    save_licence,
    sign_challenge,
    sign_licence,
)

NOW = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
HANAKO = CardHolder("山田　花子", date(1998, 7, 15), "2", "東京都千代田区霞が関2-1-2")
LICENCE = LicenceData("301234567890", "山田　花子", date(1998, 7, 15), "東京都千代田区霞が関2-1-2",
                      date(2024, 6, 1), date(2029, 8, 15), (LicenceCategory.ORDINARY,), "東京都公安委員会")


@dataclass
class Made:
    ca: JpkiTestCa
    card: IssuedKey
    authority: IssuedKey


@pytest.fixture(scope="module")
def made() -> Made:
    ca = create_jpki_ca(NOW, with_intermediate=True)
    return Made(ca, ca.issue_card(HANAKO, NOW), create_licence_authority(NOW))


@pytest.mark.parametrize(("day", "digit"), [
    (date(1912, 7, 29), "1"), (date(1912, 7, 30), "2"), (date(1926, 12, 24), "2"), (date(1926, 12, 25), "3"),
    (date(1989, 1, 7), "3"), (date(1989, 1, 8), "4"), (date(2019, 4, 30), "4"), (date(2019, 5, 1), "5"),
])
def test_era_digits_change_on_the_first_day_of_each_era(day: date, digit: str) -> None:
    assert era_digit(day) == digit


def test_the_root_and_intermediate_are_ca_certificates(made: Made) -> None:
    root, sub = made.ca.root.certificate, made.ca.intermediate.certificate  # type: ignore[union-attr]
    root.verify_directly_issued_by(root)
    sub.verify_directly_issued_by(root)
    for cert, path_length in ((root, 1), (sub, 0)):
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca
        assert constraints.value.path_length == path_length
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign
        key = cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert "not J-LIS" in root.subject.rfc4514_string()


def test_a_card_certificate_looks_like_a_jpki_signature_certificate(made: Made) -> None:
    cert = made.card.certificate
    cert.verify_directly_issued_by(made.ca.issuing.certificate)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert isinstance(made.card.key, rsa.RSAPrivateKey) and made.card.key.key_size == 2048
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    others = san.get_values_for_type(x509.OtherName)
    assert [o.type_id for o in others] == [OID_NAME, OID_NAME_SUBSTITUTES, OID_DATE_OF_BIRTH, OID_GENDER,
                                           OID_ADDRESS, OID_ADDRESS_SUBSTITUTES]
    four = read_basic_four(cert)
    assert (four.name, four.date_of_birth, four.gender, four.address) == (
        "山田　花子", "419980715", "2", "東京都千代田区霞が関2-1-2")
    assert four.name_substitutes is None and four.address_substitutes is None


def test_the_card_reader_signs_what_the_check_accepts(made: Made) -> None:
    challenge = b"\x42" * 32
    signature = sign_challenge(made.card.key, challenge)  # type: ignore[arg-type]
    assert len(signature) == 256
    result = verify_jpki_signature(made.card.der, made.ca.intermediates_der, challenge, signature,
                                   made.ca.trust(NOW), now=NOW)
    assert result.person.family_name == "山田"


def test_revoking_reissues_the_crl_of_the_issuing_ca() -> None:
    ca = create_jpki_ca(NOW)
    card = ca.issue_card(HANAKO, NOW)
    (before,) = ca.crls(NOW)
    ca.revoke(card.certificate.serial_number, NOW)
    (after,) = ca.crls(NOW + timedelta(seconds=1), next_update=timedelta(hours=6))
    assert before.get_revoked_certificate_by_serial_number(card.certificate.serial_number) is None
    assert after.get_revoked_certificate_by_serial_number(card.certificate.serial_number) is not None
    number = after.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    assert after.is_signature_valid(ca.root.certificate.public_key())  # type: ignore[arg-type]
    assert after.next_update_utc == NOW + timedelta(seconds=1, hours=6)


def test_a_ca_is_saved_and_loaded_with_its_revocations(made: Made, tmp_path: Path) -> None:
    ca = JpkiTestCa(root=made.ca.root, intermediate=made.ca.intermediate)
    card = made.card
    ca.revoke(card.certificate.serial_number, NOW)
    ca.save(tmp_path, NOW)
    save_issued(card, tmp_path, f"card-{card.certificate.serial_number}")
    names = {p.name for p in tmp_path.iterdir()}
    assert {"jpki-root.pem", "jpki-root.key.pem", "jpki-intermediate.pem", "jpki-intermediate.key.pem",
            "jpki-root.crl.pem", "jpki-intermediate.crl.pem", "jpki-state.json"} <= names
    assert stat.S_IMODE((tmp_path / "jpki-root.key.pem").stat().st_mode) == 0o600
    loaded = JpkiTestCa.load(tmp_path)
    assert loaded.revoked == ca.revoked
    assert loaded.root.certificate == ca.root.certificate
    # the files as an issuer would configure them
    trust = JpkiTrust.load([(tmp_path / "jpki-root.pem").read_bytes()],
                           [(tmp_path / "jpki-root.crl.pem").read_bytes(),
                            (tmp_path / "jpki-intermediate.crl.pem").read_bytes()])
    key_file = tmp_path / f"card-{card.certificate.serial_number}.key.pem"
    signature = sign_challenge(key_file, b"challenge")
    with pytest.raises(Revoked):
        verify_jpki_signature(card.der, loaded.intermediates_der, b"challenge", signature, trust, now=NOW)


def test_the_licence_authority_signs_licences_the_check_accepts(made: Made, tmp_path: Path) -> None:
    key = made.authority.key
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    data, signature = sign_licence(made.authority, LICENCE)
    path = save_licence(tmp_path, data, signature)
    assert path.name == "licence-301234567890.json"
    save_issued(made.authority, tmp_path, "licence-authority")
    assert load_licence(path) == (data, signature)
    trust = LicenceTrust.load([(tmp_path / "licence-authority.pem").read_bytes()])
    result = verify_licence(*load_licence(path), None, trust, now=NOW,
                            face_comparison=FaceComparison(NOW, "KYC"), organization="KYC")
    assert result.licence.number == "301234567890"
    assert load_issued(tmp_path, "licence-authority").certificate == made.authority.certificate


def test_the_card_reader_needs_an_rsa_card_key(made: Made, tmp_path: Path) -> None:
    save_issued(made.authority, tmp_path, "not-a-card")
    with pytest.raises(TypeError):
        sign_challenge(tmp_path / "not-a-card.key.pem", b"challenge")
