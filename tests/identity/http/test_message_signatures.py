"""HTTP Message Signatures (RFC 9421) with Ed25519: the RFC's vectors, then akashi's profile rule by rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import identity.errors as errors
from identity.crypto.encoding import b64decode_std, b64url_decode
from identity.crypto.keys import Ed25519PrivateKey, Ed25519PublicKey
from identity.errors import (
    AkashiError,
    BindingError,
    Expired,
    InvalidSignature,
    MalformedInput,
    TimeError,
    Unauthorized,
    UnknownKey,
    UnsupportedAlgorithm,
)
from identity.http.content_digest import check_content_digest, content_digest
from identity.http.message_signatures import (
    DEFAULT_COMPONENTS,
    format_http_date,
    parse_http_date,
    sign_request,
    signature_base,
    verify_request,
)

RFC9421 = Path(__file__).parents[2] / "vectors" / "rfc9421"


def _load(name: str) -> Any:
    return json.loads((RFC9421 / name).read_text())


KEYS = _load("keys.json")["test-key-ed25519"]
REQUEST = _load("test-request.json")
VALID = _load("valid.json")["cases"]
BASES = _load("signature-bases.json")["cases"]
REFUSED = _load("refused.json")["cases"]

RFC_KEY = Ed25519PrivateKey.from_seed(b64url_decode(KEYS["jwk"]["d"]))
RFC_HEADERS = [tuple(pair) for pair in REQUEST["headers"]]
B26 = VALID[0]
B26_REQUIRED = ("@method", "@path", "@authority", "date")


def _pem_body(pem: str) -> bytes:
    return b64decode_std("".join(line for line in pem.splitlines() if not line.startswith("-----")))


def _only(keyid: str, key: Ed25519PublicKey) -> Any:
    def resolve(name: str) -> Ed25519PublicKey:
        if name != keyid:
            raise UnknownKey(f"no key {name!r}")
        return key

    return resolve


def _params(case: dict[str, Any]) -> list[tuple[str, int | str]]:
    return [(name, value) for name, value in case["params"]]


# --- RFC 9421 Appendix B ----------------------------------------------------------


def test_the_pem_and_jwk_forms_of_the_test_key_agree() -> None:
    # PKCS#8 and SPKI for Ed25519 end with the 32-byte seed and public key (RFC 8410).
    assert _pem_body(KEYS["private_pem"])[-32:] == RFC_KEY.seed
    assert _pem_body(KEYS["public_pem"])[-32:] == RFC_KEY.public_key.raw == b64url_decode(KEYS["jwk"]["x"])


def test_b26_signature_base() -> None:
    base = signature_base(
        B26["components"],
        _params(B26),
        method=REQUEST["method"],
        target_uri=REQUEST["target_uri"],
        headers=RFC_HEADERS,
    )
    assert base == B26["signature_base"].encode()


def test_b26_signing_reproduces_the_rfc() -> None:
    # Ed25519 is deterministic: the RFC's exact Signature-Input and Signature.
    assert sign_request(
        method=REQUEST["method"],
        target_uri=REQUEST["target_uri"],
        headers=RFC_HEADERS,
        key=RFC_KEY,
        keyid="test-key-ed25519",
        created=1618884473,
        components=B26["components"],
        label=B26["label"],
    ) == {"Signature-Input": B26["signature_input"], "Signature": B26["signature"]}


def test_b26_verifies() -> None:
    headers = [*RFC_HEADERS, ("Signature-Input", B26["signature_input"]), ("Signature", B26["signature"])]
    verified = verify_request(
        method=REQUEST["method"],
        target_uri=REQUEST["target_uri"],
        headers=headers,
        resolve_key=_only("test-key-ed25519", RFC_KEY.public_key),
        now=1618884473,
        required=B26_REQUIRED,
    )
    assert verified.label == "sig-b26"
    assert verified.keyid == "test-key-ed25519"
    assert verified.created == 1618884473
    assert (verified.expires, verified.nonce, verified.tag) == (None, None, None)
    assert verified.components == tuple(B26["components"])
    assert verified.signature == b64decode_std(B26["signature"].split(":")[1])
    # The example's sha-512 Content-Digest is the body's (RFC 9530 Appendix D).
    check_content_digest(dict(RFC_HEADERS)["Content-Digest"], REQUEST["body"].encode())


def test_b26_is_refused_by_akashi_default_requirements() -> None:
    # B.2.6 does not cover content-digest, which akashi requires by default.
    headers = [*RFC_HEADERS, ("Signature-Input", B26["signature_input"]), ("Signature", B26["signature"])]
    with pytest.raises(BindingError, match="content-digest"):
        verify_request(
            method="POST",
            target_uri=REQUEST["target_uri"],
            headers=headers,
            resolve_key=_only("test-key-ed25519", RFC_KEY.public_key),
            now=1618884473,
        )


@pytest.mark.parametrize("case", BASES, ids=lambda case: case["name"])
def test_rfc_signature_bases(case: dict[str, Any]) -> None:
    base = signature_base(
        case["components"],
        _params(case),
        method=REQUEST["method"],
        target_uri=REQUEST["target_uri"],
        headers=RFC_HEADERS,
    )
    assert base == case["signature_base"].encode()


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case["name"])
def test_rfc_signatures_akashi_refuses(case: dict[str, Any]) -> None:
    assert len(b64decode_std(case["signature"].split(":")[1])) == case["signature_length"]
    headers = [*RFC_HEADERS, ("Signature-Input", case["signature_input"]), ("Signature", case["signature"])]
    resolvers = {
        "error": _only("test-key-ed25519", RFC_KEY.public_key),
        "error_if_key_confused": lambda keyid: RFC_KEY.public_key,
    }
    for outcome, resolve in resolvers.items():
        with pytest.raises(getattr(errors, case[outcome])):
            verify_request(
                method="POST",
                target_uri=REQUEST["target_uri"],
                headers=headers,
                resolve_key=resolve,
                now=1618884473,
                required=(),
            )


# --- akashi's profile ---------------------------------------------------------------

NOW = 1_760_000_000
KEY = Ed25519PrivateKey.from_seed(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_seed(bytes(32))
KEYID = "did:akashi:zOperator#key-1"
URI = "https://registry.example/mailbox/messages?after=7"
BODY = b'{"ack": "m-1"}'


def _unsigned(date: int = NOW) -> dict[str, str]:
    return {
        "Host": "registry.example",
        "Date": format_http_date(date),
        "Content-Type": "application/json",
        "Content-Digest": content_digest(BODY),
    }


def _request(
    *, created: int = NOW, date: int = NOW, key: Ed25519PrivateKey = KEY, **options: Any
) -> dict[str, str]:
    headers = _unsigned(date)
    headers |= sign_request(
        method="POST", target_uri=URI, headers=headers, key=key, keyid=KEYID, created=created, **options
    )
    return headers


def _verify(headers: Any, *, method: str = "POST", target_uri: str = URI, **options: Any) -> Any:
    options.setdefault("resolve_key", _only(KEYID, KEY.public_key))
    options.setdefault("now", NOW)
    return verify_request(method=method, target_uri=target_uri, headers=headers, **options)


def test_round_trip_with_the_defaults() -> None:
    headers = _request(nonce="n-0001", tag="akashi-mailbox")
    verified = _verify(headers, tag="akashi-mailbox")
    assert verified.components == DEFAULT_COMPONENTS
    assert (verified.keyid, verified.created, verified.nonce, verified.tag) == (
        KEYID,
        NOW,
        "n-0001",
        "akashi-mailbox",
    )
    assert headers["Signature-Input"] == (
        'sig1=("@method" "@path" "@authority" "date" "content-digest");'
        f'created={NOW};nonce="n-0001";keyid="{KEYID}";tag="akashi-mailbox"'
    )
    check_content_digest(headers["Content-Digest"], BODY)


def test_header_names_are_case_insensitive_and_lists_of_pairs_work() -> None:
    headers = _request()
    assert _verify({name.upper(): value for name, value in headers.items()}).keyid == KEYID
    assert _verify(iter(list(headers.items()))).keyid == KEYID  # an iterator is read once


def test_a_replayed_request_verifies_the_same_so_the_caller_can_spot_it() -> None:
    headers = _request(nonce="n-0002")
    first, second = _verify(headers), _verify(headers, now=NOW + 10)
    assert (first.keyid, first.nonce, first.signature) == (second.keyid, second.nonce, second.signature)


@pytest.mark.parametrize(
    ("name", "request_options", "verify_options", "error"),
    [
        ("created just inside the past window", {"created": NOW - 360, "date": NOW - 360}, {}, None),
        ("created too old", {"created": NOW - 361, "date": NOW}, {}, TimeError),
        ("created within the clock skew ahead", {"created": NOW + 60, "date": NOW}, {}, None),
        ("created in the future", {"created": NOW + 61, "date": NOW}, {}, TimeError),
        ("a shorter max_age", {"created": NOW - 100, "date": NOW}, {"max_age": 30}, TimeError),
        ("no skew allowed", {"created": NOW + 1, "date": NOW}, {"skew": 0}, TimeError),
        ("expires in an hour", {"expires": NOW + 3600}, {}, None),
        ("expired, but within the clock skew", {"expires": NOW - 59}, {}, None),
        ("expired", {"expires": NOW - 60}, {}, Expired),
        ("date too old", {"date": NOW - 361}, {}, TimeError),
        ("date in the future", {"date": NOW + 61}, {}, TimeError),
    ],
)
def test_time_windows(
    name: str, request_options: dict[str, Any], verify_options: dict[str, Any], error: type[Exception] | None
) -> None:
    headers = _request(**request_options)
    if error is None:
        _verify(headers, **verify_options)
    else:
        with pytest.raises(error):
            _verify(headers, **verify_options)


def test_expired_is_a_time_error() -> None:
    assert issubclass(Expired, TimeError)


@pytest.mark.parametrize("component", DEFAULT_COMPONENTS)
def test_each_required_component_must_be_covered(component: str) -> None:
    covered = tuple(name for name in DEFAULT_COMPONENTS if name != component)
    with pytest.raises(BindingError, match=component):
        _verify(_request(components=covered))


def test_a_covered_header_that_is_missing_is_refused() -> None:
    headers = _request()
    del headers["Content-Digest"]
    with pytest.raises(MalformedInput, match="content-digest"):
        _verify(headers)


def test_a_date_that_is_not_an_imf_fixdate_is_refused() -> None:
    headers = _request()
    headers["Date"] = "Sunday, 06-Nov-94 08:49:37 GMT"
    with pytest.raises(MalformedInput, match="Date"):
        _verify(headers)


def test_unsigned_request() -> None:
    with pytest.raises(Unauthorized):
        _verify({"Date": format_http_date(NOW)})


def test_labels() -> None:
    headers = _request(label="mailbox")
    assert _verify(headers, label="mailbox").label == "mailbox"
    with pytest.raises(Unauthorized, match="sig1"):
        _verify(headers, label="sig1")
    second = sign_request(
        method="POST", target_uri=URI, headers=headers, key=KEY, keyid=KEYID, created=NOW, label="proxy"
    )
    both = {
        **headers,
        "Signature-Input": headers["Signature-Input"] + ", " + second["Signature-Input"],
        "Signature": headers["Signature"] + ", " + second["Signature"],
    }
    with pytest.raises(MalformedInput, match="several"):
        _verify(both)
    assert _verify(both, label="proxy").label == "proxy"
    assert _verify(both, label="mailbox").label == "mailbox"


def test_tag() -> None:
    headers = _request(tag="akashi-mailbox")
    with pytest.raises(BindingError):
        _verify(headers, tag="akashi-other")
    with pytest.raises(BindingError):
        _verify(_request(), tag="akashi-mailbox")


def test_unknown_and_wrong_keys() -> None:
    headers = _request()
    with pytest.raises(UnknownKey):
        _verify(headers, resolve_key=_only("did:akashi:zSomeoneElse#key-1", KEY.public_key))
    with pytest.raises(InvalidSignature):
        _verify(headers, resolve_key=lambda keyid: OTHER.public_key)
    with pytest.raises(InvalidSignature):
        _verify(_request(key=OTHER))


def _with_input(signature_input: str) -> dict[str, str]:
    headers = _request()
    headers["Signature-Input"] = signature_input
    return headers


_COVERED = '("@method" "@path" "@authority" "date" "content-digest")'


@pytest.mark.parametrize(
    ("signature_input", "error"),
    [
        (f'sig1={_COVERED};created={NOW};keyid="{KEYID}";alg="ed25519"', InvalidSignature),  # not signed so
        (f'sig1={_COVERED};created={NOW};keyid="{KEYID}";alg="rsa-pss-sha512"', UnsupportedAlgorithm),
        (f'sig1={_COVERED};created={NOW};keyid="{KEYID}";alg=ed25519', MalformedInput),  # a token
        (f'sig1={_COVERED};keyid="{KEYID}"', MalformedInput),  # no created
        (f"sig1={_COVERED};created={NOW}", MalformedInput),  # no keyid
        (f'sig1={_COVERED};created={NOW}.0;keyid="{KEYID}"', MalformedInput),  # a decimal
        (f'sig1={_COVERED};created=-{NOW};keyid="{KEYID}"', MalformedInput),
        (f'sig1={_COVERED};created=?1;keyid="{KEYID}"', MalformedInput),
        (f'sig1={_COVERED};created="{NOW}";keyid="{KEYID}"', MalformedInput),
        (f'sig1={_COVERED};created={NOW};created={NOW};keyid="{KEYID}"', MalformedInput),
        (f'sig1={_COVERED};created={NOW};keyid="{KEYID}";context="x"', MalformedInput),
        (f'sig1={_COVERED};created={NOW};keyid="{KEYID}", sig1={_COVERED};created={NOW}', MalformedInput),
        (f'sig1={_COVERED};created={NOW};keyid="{KEYID}",', MalformedInput),
        (f'sig1={_COVERED};created={NOW};keyid="{KEYID}" x', MalformedInput),
        (f'sig1={_COVERED};created={NOW};keyid="{KEYID}', MalformedInput),
        (f'sig1={_COVERED};created={NOW};keyid="a\\b"', MalformedInput),
        (f'sig1=("@method" "@path" "@authority" "date" "content-digest";sf);created={NOW};keyid="{KEYID}"',
         MalformedInput),
        (f'sig1=("@method" "@method" "@path" "@authority" "date" "content-digest");created={NOW}'
         f';keyid="{KEYID}"', MalformedInput),
        (f'sig1=("@method" "@path" "@authority" "Date" "content-digest");created={NOW};keyid="{KEYID}"',
         MalformedInput),
        (f'sig1=("@method" "@path" "@authority" "date" "content-digest" "@signature-params");created={NOW}'
         f';keyid="{KEYID}"', MalformedInput),
        (f'sig1=("@method" "@path" "@authority" "date" "content-digest" "@status");created={NOW}'
         f';keyid="{KEYID}"', MalformedInput),
        (f'sig1=("@method"  "@path"\t"@authority" "date" "content-digest");created={NOW};keyid="{KEYID}"',
         MalformedInput),
        (f'sig1=(@method @path @authority date content-digest);created={NOW};keyid="{KEYID}"',
         MalformedInput),  # tokens, not strings
        (f'sig1="@method";created={NOW};keyid="{KEYID}"', MalformedInput),
        (f'sig2={_COVERED};created={NOW};keyid="{KEYID}"', MalformedInput),  # no Signature under sig2
        (f'Sig1={_COVERED};created={NOW};keyid="{KEYID}"', MalformedInput),
        ("", Unauthorized),
    ],
)  # fmt: skip
def test_garbage_in_signature_input(signature_input: str, error: type[AkashiError]) -> None:
    with pytest.raises(error):
        _verify(_with_input(signature_input))


@pytest.mark.parametrize(
    "signature",
    [
        "sig1=:AAAA:, sig1=:AAAA:",  # duplicate label
        "sig1=AAAA",
        "sig1=:AAAA",
        "sig1=:AAAA:;x=1",
        "sig1=(:AAAA:)",
        'sig1="AAAA"',
        "sig1",
    ],
)
def test_garbage_in_signature(signature: str) -> None:
    headers = _request()
    headers["Signature"] = signature
    with pytest.raises(MalformedInput):
        _verify(headers)


def test_whitespace_the_dictionary_syntax_allows_is_accepted() -> None:
    headers = _request()
    headers["Signature-Input"] = "  " + headers["Signature-Input"].replace("(", "( ").replace(")", " )") + " "
    headers["Signature"] = "proxy=:AAAA: ,\t" + headers["Signature"]
    assert _verify(headers).keyid == KEYID


def test_too_long_fields_are_refused_before_parsing() -> None:
    headers = _request()
    headers["Signature"] = headers["Signature"] + ", x=:" + "A" * 8192 + ":"
    with pytest.raises(MalformedInput, match="too long"):
        _verify(headers)


_PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)


@given(
    keyid=_PRINTABLE,
    nonce=st.none() | _PRINTABLE,
    tag=st.none() | _PRINTABLE,
    label=st.from_regex(r"[a-z*][a-z0-9_.*-]{0,8}", fullmatch=True),
)
def test_printable_parameters_round_trip(keyid: str, nonce: str | None, tag: str | None, label: str) -> None:
    # Quotes and backslashes are escaped on the way out and unescaped on the way in.
    headers = _unsigned()
    headers |= sign_request(
        method="POST", target_uri=URI, headers=headers, key=KEY, keyid=keyid, created=NOW, nonce=nonce,
        tag=tag, label=label,
    )  # fmt: skip
    verified = _verify(headers, resolve_key=_only(keyid, KEY.public_key), label=label, tag=tag)
    assert (verified.keyid, verified.nonce, verified.tag, verified.label) == (keyid, nonce, tag, label)


# --- flipped characters: always an AkashiError, never another exception ------------

_SIGNED = _request(nonce="n-0003", tag="akashi-mailbox")
_COVERED_FIELDS = ["Signature-Input", "Signature", "Date", "Content-Digest"]


@given(st.data())
def test_any_flipped_character_in_a_covered_or_signature_header_is_refused(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(_COVERED_FIELDS))
    value = _SIGNED[name]
    index = data.draw(st.integers(0, len(value) - 1))
    char = data.draw(st.characters().filter(lambda c: c != value[index]))
    headers = {**_SIGNED, name: value[:index] + char + value[index + 1 :]}
    with pytest.raises(AkashiError):
        _verify(headers)


@given(st.data())
def test_a_changed_authority_or_path_is_refused(data: st.DataObject) -> None:
    # Scheme case, host case and the (uncovered) query may change without effect; the rest may not.
    start, end = len("https://"), URI.index("?")
    index = data.draw(st.integers(start, end - 1))
    char = data.draw(st.characters().filter(lambda c: c.lower() != URI[index].lower()))
    with pytest.raises(AkashiError):
        _verify(_SIGNED, target_uri=URI[:index] + char + URI[index + 1 :])


@given(st.text(min_size=1, max_size=12).filter(lambda method: method != "POST"))
def test_a_changed_method_is_refused(method: str) -> None:
    with pytest.raises(AkashiError):
        _verify(_SIGNED, method=method)


# --- derived components and header values (RFC 9421 sections 2.1 and 2.2) -----------


def _lines(components: list[str], target_uri: str, headers: Any = ()) -> list[str]:
    base = signature_base(components, [], method="GET", target_uri=target_uri, headers=headers)
    return base.decode().split("\n")[:-1]


def test_derived_components() -> None:
    components = ["@method", "@target-uri", "@scheme", "@authority", "@path", "@query"]
    assert _lines(components, "HTTPS://WWW.Example.com:443") == [
        '"@method": GET',
        '"@target-uri": HTTPS://WWW.Example.com:443',
        '"@scheme": https',
        '"@authority": www.example.com',
        '"@path": /',
        '"@query": ?',
    ]
    assert _lines(["@authority", "@path", "@query"], "http://example.com:8080/a%2Fb?") == [
        '"@authority": example.com:8080',
        '"@path": /a%2Fb',
        '"@query": ?',
    ]
    assert _lines(["@authority", "@query"], "http://[::1]:80/?param=value&foo=bar&baz=bat%2Dman") == [
        '"@authority": [::1]',
        '"@query": ?param=value&foo=bar&baz=bat%2Dman',
    ]


@pytest.mark.parametrize(
    "target_uri",
    [
        "/foo",
        "example.com/foo",
        "ftp://example.com/foo",
        "https://example.com/foo#part",
        "https://user@example.com/foo",
        "https:///foo",
        "https://example.com:99999/",
        "https://example.com/a b",
        "https://example.com/ä",
    ],
)
def test_target_uris_refused(target_uri: str) -> None:
    with pytest.raises(MalformedInput):
        _lines(["@path"], target_uri)


def test_header_values_are_trimmed_and_repeated_fields_joined() -> None:
    # RFC 9421 section 2.1's examples.
    headers = [
        ("X-OWS-Header", "   Leading and trailing whitespace.   "),
        ("Cache-Control", "max-age=60"),
        ("cache-control", "   must-revalidate"),
        ("X-Empty-Header", ""),
    ]
    assert _lines(["x-ows-header", "cache-control", "x-empty-header"], "https://example.com/", headers) == [
        '"x-ows-header": Leading and trailing whitespace.',
        '"cache-control": max-age=60, must-revalidate',
        '"x-empty-header": ',
    ]


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "caf\u00e9", "a\x00b"])
def test_header_values_outside_visible_ascii_are_refused(value: str) -> None:
    with pytest.raises(MalformedInput):
        _lines(["x-h"], "https://example.com/", [("X-H", value)])


def test_signing_misuse_is_a_programming_error() -> None:
    headers = _unsigned()
    for options in ({"label": "Sig 1"}, {"created": -1}, {"nonce": "caf\u00e9"}, {"keyid": 'a"\n'}):
        arguments: dict[str, Any] = {"keyid": KEYID, "created": NOW, **options}
        with pytest.raises(ValueError):
            sign_request(method="POST", target_uri=URI, headers=headers, key=KEY, **arguments)
    with pytest.raises(MalformedInput, match="date"):  # the caller forgot to add Date
        sign_request(method="POST", target_uri=URI, headers={}, key=KEY, keyid=KEYID, created=NOW)


# --- HTTP dates -------------------------------------------------------------------------


def test_http_dates() -> None:
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777  # RFC 9110 section 5.6.7
    assert format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert parse_http_date(dict(RFC_HEADERS)["Date"]) == 1618884475


@pytest.mark.parametrize(
    "text",
    [
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850, obsolete
        "Sun Nov  6 08:49:37 1994",  # asctime, obsolete
        "Mon, 06 Nov 1994 08:49:37 GMT",  # wrong day name
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:49:37 GMT",
        "Sun, 06 Nox 1994 08:49:37 GMT",
        "sun, 06 Nov 1994 08:49:37 GMT",
        " Sun, 06 Nov 1994 08:49:37 GMT",
    ],
)
def test_http_dates_refused(text: str) -> None:
    with pytest.raises(MalformedInput):
        parse_http_date(text)


@given(st.integers(0, 253402300799))
def test_http_date_round_trip(timestamp: int) -> None:
    assert parse_http_date(format_http_date(timestamp)) == timestamp
