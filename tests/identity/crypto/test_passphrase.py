"""Argon2id key derivation against libsodium's own vectors; parameter bounds; normalisation."""

from __future__ import annotations

import json
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from identity.crypto.passphrase import (
    DEFAULT_PARAMS,
    MEMLIMIT_RANGE,
    OPSLIMIT_RANGE,
    TEST_PARAMS,
    KdfParams,
    argon2id,
    derive_key,
    expand_key,
)
from identity.errors import MalformedInput

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "libsodium-argon2id" / "vectors.json").read_text()
)
SALT = bytes(range(16))


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_libsodium_argon2id_vectors(vector: dict[str, Any]) -> None:
    params = KdfParams(vector["opslimit"], vector["memlimit"])
    output = argon2id(
        bytes.fromhex(vector["password"]), bytes.fromhex(vector["salt"]), params, length=vector["length"]
    )
    assert output.hex() == vector["output"]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_libsodium_refused_vectors_are_refused(vector: dict[str, Any]) -> None:
    params = KdfParams(vector["opslimit"], vector["memlimit"])
    password, salt = bytes.fromhex(vector["password"]), bytes.fromhex(vector["salt"])
    with pytest.raises(ValueError, match="output length"):
        argon2id(password, salt, params, length=vector["length"])


@pytest.mark.parametrize(
    "value",
    [
        {"alg": "argon2id13", "opslimit": 0, "memlimit": 8192},  # below libsodium's minimum
        {"alg": "argon2id13", "opslimit": 11, "memlimit": 8192},  # a forged file stalling its reader
        {"alg": "argon2id13", "opslimit": 1, "memlimit": 8191},
        {"alg": "argon2id13", "opslimit": 1, "memlimit": 64 * 1024**3},  # 64 GiB
        {"alg": "argon2id13", "opslimit": True, "memlimit": 8192},
        {"alg": "argon2id13", "opslimit": "3", "memlimit": 8192},
        {"alg": "argon2id13", "opslimit": 1.0, "memlimit": 8192},
        {"alg": "argon2i13", "opslimit": 3, "memlimit": 8192},
        {"alg": "argon2id13", "opslimit": 3},
        {"alg": "argon2id13", "opslimit": 3, "memlimit": 8192, "lanes": 4},
        [3, 8192],
    ],
)
def test_out_of_range_or_malformed_parameters_are_refused(value: object) -> None:
    with pytest.raises(MalformedInput):
        KdfParams.from_json(value)


def test_parameters_round_trip_through_json() -> None:
    for params in (DEFAULT_PARAMS, TEST_PARAMS, KdfParams(OPSLIMIT_RANGE[1], MEMLIMIT_RANGE[1])):
        assert KdfParams.from_json(json.loads(json.dumps(params.to_json()))) == params


def test_test_params_are_the_least_libsodium_allows_and_defaults_are_at_least_interactive() -> None:
    assert (TEST_PARAMS.opslimit, TEST_PARAMS.memlimit) == (1, 8192)
    with pytest.raises(MalformedInput):
        KdfParams(TEST_PARAMS.opslimit - 1, TEST_PARAMS.memlimit)
    # libsodium's INTERACTIVE: 2 passes over 64 MiB
    assert DEFAULT_PARAMS.opslimit >= 2 and DEFAULT_PARAMS.memlimit >= 64 * 1024 * 1024


def test_default_params_unlock_in_about_a_second_at_most() -> None:
    started = time.perf_counter()
    key = derive_key("correct horse battery staple", SALT, DEFAULT_PARAMS)
    elapsed = time.perf_counter() - started
    assert len(key) == 32
    assert elapsed < 3.0, f"unlocking took {elapsed:.2f} s"


def test_passphrase_key_depends_on_passphrase_salt_and_params() -> None:
    key = derive_key("山田の合言葉", SALT, TEST_PARAMS)
    assert len(key) == 32
    assert derive_key("山田の合言葉", SALT, TEST_PARAMS) == key
    assert derive_key("山田の合言葉!", SALT, TEST_PARAMS) != key
    assert derive_key("山田の合言葉", bytes(16), TEST_PARAMS) != key
    assert derive_key("山田の合言葉", SALT, KdfParams(2, 8192)) != key


def test_composed_and_decomposed_kana_give_the_same_key() -> None:
    composed = "がぎぐ password"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert derive_key(composed, SALT, TEST_PARAMS) == derive_key(decomposed, SALT, TEST_PARAMS)


@pytest.mark.parametrize("salt", [b"", bytes(15), bytes(17)])
def test_salts_of_the_wrong_length_are_malformed(salt: bytes) -> None:
    with pytest.raises(MalformedInput):
        derive_key("passphrase", salt, TEST_PARAMS)


def test_expanded_keys_are_independent_per_purpose() -> None:
    master = derive_key("passphrase", SALT, TEST_PARAMS)
    seal, index = expand_key(master, "seal"), expand_key(master, "index")
    assert len(seal) == len(index) == 32
    assert len({master, seal, index}) == 3
    assert expand_key(master, "seal") == seal
    with pytest.raises(MalformedInput):
        expand_key(master[:31], "seal")
