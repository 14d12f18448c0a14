"""Opening a verifier from its data folder: identity, policies, trusted issuers, ledger.

Layout of the folder (``akashi-verifier init`` writes it; :mod:`verifier.identity` the keys)::

    policies.json          the verification policies (verifier-policies.schema.json)
    issuers.json           {"issuers": [credential issuer URL…]} whose credentials are asked for
    registry.json          {"url", "genesis": {...}, "witnesses": [vkey…], "k"}
    registry-state.json    the last checkpoint this verifier verified (kept across restarts)
    service.json           {"url"}: the public base URL given at init
    customers.db           OpenID4VP transactions, KYC and APPI records: one SQLite file, so that
                           closing a request and recording its answer are one commit
                           (:mod:`verifier.database`); a requests.db left by an older version is
                           adopted on opening and kept as requests.db.migrated

The registry is reached only through :class:`registry.client.RegistryClient`; status
lists are fetched with plain HTTP GETs (:class:`HttpStatusFetcher`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from identity.errors import MalformedInput, RemoteError
from registry.client import ClientTrust, RegistryClient
from verifier.config import VerifierConfig
from verifier.identity import load_identity
from verifier.policies import DEFAULT_POLICIES_FILE, load_policies
from verifier.service import Verifier

__all__ = [
    "HttpStatusFetcher",
    "RegistryTrust",
    "close_verifier",
    "ledger_client",
    "load_issuers",
    "open_verifier",
    "registry_trust",
    "save_issuers",
    "save_registry",
    "save_url",
    "saved_url",
]

#: A status list token is a few kilobytes; refuse to read anything much larger.
MAX_STATUS_LIST_BYTES = 1 << 20


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MalformedInput(f"no {what} at {path}: run `akashi-verifier init` first") from exc
    except (OSError, ValueError) as exc:
        raise MalformedInput(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedInput(f"{path} is not a JSON object")
    return value


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- issuers, URL


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise MalformedInput(f"{what} must be an http(s) URL, not {url!r}")
    return url.rstrip("/")


def save_issuers(config: VerifierConfig, urls: Sequence[str]) -> list[str]:
    """Record the credential issuers (their URLs) this verifier asks credentials of."""
    cleaned = list(dict.fromkeys(_check_url(u, "an issuer") for u in urls))
    _write_json(config.path("issuers.json"), {"issuers": cleaned})
    return cleaned


def load_issuers(config: VerifierConfig) -> list[str]:
    """The trusted issuer URLs of ``issuers.json``."""
    issuers = _read_json(config.path("issuers.json"), "issuer list").get("issuers")
    if not isinstance(issuers, list) or not issuers or not all(isinstance(u, str) for u in issuers):
        raise MalformedInput(f"{config.path('issuers.json')} must list at least one issuer URL")
    return [_check_url(u, "an issuer") for u in issuers]


def save_url(config: VerifierConfig, url: str) -> None:
    """Remember the public base URL given at ``init`` (``request`` and ``serve`` share it)."""
    _write_json(config.path("service.json"), {"url": _check_url(url, "the verifier URL")})


def saved_url(data_dir: Path) -> str | None:
    """The base URL :func:`save_url` recorded in ``data_dir``, if any."""
    path = data_dir / "service.json"
    if not path.exists():
        return None
    url = _read_json(path, "service settings").get("url")
    return url if isinstance(url, str) and url else None


# ---------------------------------------------------------------- registry


def save_registry(
    config: VerifierConfig, url: str, genesis_file: Path, witnesses: Sequence[str], k: int
) -> None:
    """Record which ledger this verifier reads, and how much to trust it (checked now)."""
    genesis = json.loads(genesis_file.read_text(encoding="utf-8"))
    ClientTrust.from_genesis_document(genesis, list(witnesses), k)  # refuse a bad genesis or k now
    _write_json(
        config.path("registry.json"),
        {"url": _check_url(url, "the registry"), "genesis": genesis, "witnesses": list(witnesses), "k": k},
    )


@dataclass(frozen=True, slots=True)
class RegistryTrust:
    """What ``registry.json`` says: where the registry is and whom to believe."""

    url: str
    genesis: dict[str, Any]
    witnesses: tuple[str, ...]
    k: int

    @property
    def log_key(self) -> str:
        """The log's C2SP verifier key (from the genesis)."""
        return self.client_trust().log_key

    @property
    def origin(self) -> str:
        """The log's checkpoint origin."""
        return self.client_trust().origin

    def client_trust(self) -> ClientTrust:
        """The :class:`ClientTrust` of this configuration."""
        return ClientTrust.from_genesis_document(self.genesis, self.witnesses, self.k)


def registry_trust(config: VerifierConfig) -> RegistryTrust:
    """Read ``registry.json``."""
    data = _read_json(config.path("registry.json"), "registry settings (init --registry --genesis)")
    url, genesis, witnesses, k = (data.get(n) for n in ("url", "genesis", "witnesses", "k"))
    if (
        not isinstance(url, str)
        or not isinstance(genesis, dict)
        or not isinstance(witnesses, list)
        or not all(isinstance(w, str) for w in witnesses)
        or isinstance(k, bool)
        or not isinstance(k, int)
    ):
        raise MalformedInput(f"{config.path('registry.json')} lacks url, genesis, witnesses or k")
    return RegistryTrust(url, genesis, tuple(witnesses), k)


def ledger_client(config: VerifierConfig, *, clock: Callable[[], float] = time.time) -> RegistryClient:
    """A verifying client of the configured registry that remembers its last checkpoint."""
    trust = registry_trust(config)
    return RegistryClient(
        trust.url, trust=trust.client_trust(), clock=clock, state_file=config.path("registry-state.json")
    )


# ---------------------------------------------------------------- status lists


class HttpStatusFetcher:
    """``GET`` a status list URI; the token text. Transport failures, HTTP errors and
    oversized answers are :class:`RemoteError` (the token itself is verified by the caller)."""

    def __init__(self, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self._http = client if client is not None else httpx.Client(timeout=timeout)
        self._owns = client is None

    def __call__(self, uri: str) -> str:
        if urlsplit(uri).scheme not in {"http", "https"}:
            raise RemoteError(f"the status list URI {uri!r} is not an http(s) URL")
        try:
            response = self._http.get(uri, headers={"accept": "application/statuslist+jwt"})
        except httpx.HTTPError as exc:
            raise RemoteError(f"the status list {uri} could not be fetched: {exc}") from exc
        if response.status_code != 200:
            raise RemoteError(f"the status list {uri} answered HTTP {response.status_code}")
        if len(response.content) > MAX_STATUS_LIST_BYTES:
            raise RemoteError(f"the status list {uri} is larger than {MAX_STATUS_LIST_BYTES} bytes")
        try:
            return response.content.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise RemoteError(f"the status list {uri} is not a compact JWT") from exc

    def close(self) -> None:
        """Close the HTTP client if this fetcher made it."""
        if self._owns:
            self._http.close()


# ---------------------------------------------------------------- the verifier


def open_verifier(config: VerifierConfig, *, clock: Callable[[], float] = time.time) -> Verifier:
    """The verifier of ``config.data_dir`` (no network until it is used).

    Close it with :func:`close_verifier`, which also closes its ledger client and fetcher.
    """
    if not config.path("did.json").exists():
        raise MalformedInput(f"{config.data_dir} holds no verifier: run `akashi-verifier init` first")
    identity = load_identity(config.data_dir)
    policies = load_policies(config.path(DEFAULT_POLICIES_FILE))
    issuers = load_issuers(config)
    ledger = ledger_client(config, clock=clock)
    return Verifier(
        config,
        identity,
        ledger=ledger,
        policies=policies,
        issuers=issuers,
        fetch_status_list=HttpStatusFetcher(),
        clock=clock,
    )


def close_verifier(verifier: Verifier) -> None:
    """Close the verifier's stores, its ledger client and its status list fetcher."""
    verifier.close()
    verifier.ledger.close()
    fetcher = verifier.fetch_status_list
    if isinstance(fetcher, HttpStatusFetcher):
        fetcher.close()
