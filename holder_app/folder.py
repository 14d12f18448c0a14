"""A wallet's folder: the encrypted wallet file, and the registry settings it was made with.

``wallet.db`` is the store (:mod:`holder_app.store`); ``registry.json`` says which registry
node the wallet reads and whom it believes (the consortium's genesis, witness keys, ``k``);
``registry-state.json`` is the last checkpoint the ledger client verified. The CLI and the
web app open a wallet the same way: :func:`open_wallet_folder`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from holder_app.recovery import forget_recovery_keys
from holder_app.recovery_kit import RecoveryKit
from holder_app.store import WalletStore
from holder_app.wallet import Wallet, create_wallet
from identity.crypto.passphrase import DEFAULT_PARAMS, KdfParams
from identity.errors import MalformedInput, NotFound
from registry.client import ClientTrust, RegistryClient

__all__ = ["REGISTRY_FILE", "WALLET_FILE", "LedgerSettings", "create_wallet_folder", "open_wallet_folder"]

WALLET_FILE = "wallet.db"
REGISTRY_FILE = "registry.json"


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    """Which registry the wallet reads and whom it believes (``registry.json``)."""

    url: str
    genesis: dict[str, Any]
    witnesses: tuple[str, ...]
    k: int

    def trust(self) -> ClientTrust:
        """The client trust these settings describe (refuses a bad genesis or ``k``)."""
        return ClientTrust.from_genesis_document(self.genesis, self.witnesses, self.k)

    def client(self, data: Path) -> RegistryClient:
        """A verifying ledger client that remembers its last checkpoint in ``data``."""
        return RegistryClient(self.url, trust=self.trust(), state_file=data / "registry-state.json")

    @classmethod
    def read(cls, data: Path) -> LedgerSettings:
        """Read ``registry.json`` of the wallet folder ``data``."""
        path = data / REGISTRY_FILE
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"{data} holds no wallet: run `akashi-wallet init` first") from None
        except (OSError, ValueError) as error:
            raise MalformedInput(f"{path} is not readable JSON: {error}") from None
        url, genesis, witnesses, k = (obj.get(n) for n in ("url", "genesis", "witnesses", "k"))
        if not (
            isinstance(url, str)
            and isinstance(genesis, dict)
            and isinstance(witnesses, list)
            and all(isinstance(w, str) for w in witnesses)
            and isinstance(k, int)
            and not isinstance(k, bool)
        ):
            raise MalformedInput(f"{path} lacks url, genesis, witnesses or k")
        return cls(url, genesis, tuple(witnesses), k)

    def write(self, data: Path) -> None:
        """Write ``registry.json`` (refusing to overwrite one)."""
        document = {"url": self.url, "genesis": self.genesis, "witnesses": list(self.witnesses), "k": self.k}
        with open(data / REGISTRY_FILE, "x", encoding="utf-8") as out:
            json.dump(document, out, ensure_ascii=False, indent=2)


# ---------------------------------------------------------------- plumbing



@contextmanager
def open_wallet_folder(data: Path, passphrase: str) -> Iterator[Wallet]:
    """The wallet in folder ``data``, opened with ``passphrase`` (every row checked) with its
    verifying ledger client; everything closed afterwards."""
    settings = LedgerSettings.read(data)
    store = WalletStore.open(data / WALLET_FILE, passphrase)
    ledger = settings.client(data)
    wallet = Wallet(store, ledger)
    try:
        yield wallet
    finally:
        wallet.close()
        ledger.close()
        store.close()


def create_wallet_folder(
    data: Path,
    settings: LedgerSettings,
    passphrase: str,
    *,
    params: KdfParams = DEFAULT_PARAMS,
    show_kit: Callable[[RecoveryKit], None] | None = None,
) -> RecoveryKit:
    """A new wallet in folder ``data`` (refused if it holds one): the encrypted file, its
    did:akashi on the ledger, ``registry.json``. ``show_kit`` is called with the recovery kit
    before the wallet forgets its key (from then on only the kit can rotate the identity); the
    kit is returned. If anything fails before the kit is shown, no half-made wallet is left."""
    if (data / WALLET_FILE).exists() or (data / REGISTRY_FILE).exists():
        raise MalformedInput(f"{data} already holds a wallet")
    settings.trust()  # a bad genesis or k is refused before anything is written
    data.mkdir(parents=True, exist_ok=True)
    store = WalletStore.create(data / WALLET_FILE, passphrase, params=params)
    try:
        with settings.client(data) as ledger:
            kit = create_wallet(store, ledger)
        settings.write(data)
    except BaseException:
        store.close()
        (data / WALLET_FILE).unlink(missing_ok=True)
        raise
    try:
        if show_kit is not None:
            show_kit(kit)
        forget_recovery_keys(store)
    finally:
        store.close()
    return kit
