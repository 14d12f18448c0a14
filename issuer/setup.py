"""Opening an issuer from its data folder: identity, trust anchors, ledger connection.

Layout of the folder (``init`` writes it; see :mod:`issuer.identity` for the keys)::

    trust/jpki/*.pem        JPKI root certificates      trust/crl/*.pem   their CRLs
    trust/licence/*.pem     licence authority certificates
    registry.json           {"url", "genesis": {...}, "witnesses": [vkey…], "k"}
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from identity.errors import MalformedInput
from issuer.config import IssuerConfig
from issuer.evidence import JpkiTrust, LicenceTrust
from issuer.identity import load_identity
from issuer.service import Issuer
from registry.client import ClientTrust, RegistryClient

__all__ = ["install_trust", "ledger_client", "open_issuer", "save_registry"]


def _files(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.glob("*.pem"))] if folder.is_dir() else []


def install_trust(
    config: IssuerConfig,
    *,
    jpki_roots: Sequence[Path] = (),
    crls: Sequence[Path] = (),
    licence_authorities: Sequence[Path] = (),
) -> None:
    """Copy trust anchors into the data folder (replacing CRLs of the same name)."""
    for files, sub in ((jpki_roots, "jpki"), (crls, "crl"), (licence_authorities, "licence")):
        target = config.path("trust") / sub
        target.mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copyfile(path, target / path.name)


def save_registry(
    config: IssuerConfig, url: str, genesis_file: Path, witnesses: Sequence[str], k: int
) -> None:
    """Record which ledger this issuer anchors to, and how much to trust it."""
    genesis = json.loads(genesis_file.read_text(encoding="utf-8"))
    config.path("registry.json").write_text(
        json.dumps(
            {"url": url, "genesis": genesis, "witnesses": list(witnesses), "k": k},
            ensure_ascii=False,
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def ledger_client(config: IssuerConfig, *, clock: Callable[[], float] = time.time) -> RegistryClient | None:
    """A verifying client of the configured registry, or None if none is configured."""
    path = config.path("registry.json")
    if not path.exists():
        return None
    settings: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    trust = ClientTrust.from_genesis_document(settings["genesis"], settings["witnesses"], settings["k"])
    return RegistryClient(
        settings["url"], trust=trust, clock=clock, state_file=config.path("registry-state.json")
    )


def open_issuer(
    config: IssuerConfig, *, clock: Callable[[], float] = time.time, ledger: RegistryClient | None = None
) -> Issuer:
    """The issuer of ``config.data_dir``."""
    if not config.path("did.json").exists():
        raise MalformedInput(f"{config.data_dir} holds no issuer: run `akashi-issuer init` first")
    roots, crls, authorities = (_files(config.path("trust") / sub) for sub in ("jpki", "crl", "licence"))
    return Issuer(
        config,
        load_identity(config.data_dir),
        jpki_trust=JpkiTrust.load(roots, crls) if roots else None,
        licence_trust=LicenceTrust.load(authorities) if authorities else None,
        ledger=ledger if ledger is not None else ledger_client(config, clock=clock),
        clock=clock,
    )


def save_url(config: IssuerConfig, url: str) -> None:
    """Remember the public base URL given at ``init``: the credential issuer identifier that
    ``serve`` answers as and that ``check`` writes into offers must be the same."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise MalformedInput(f"the issuer URL must be an http(s) URL, not {url!r}")
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.path("service.json").write_text(json.dumps({"url": url.rstrip("/")}) + "\n", encoding="utf-8")


def saved_url(data_dir: Path) -> str | None:
    """The base URL :func:`save_url` recorded in ``data_dir``, if any."""
    path = data_dir / "service.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise MalformedInput(f"cannot read the service settings {path}: {exc}") from exc
    url = value.get("url") if isinstance(value, dict) else None
    return url if isinstance(url, str) and url else None
