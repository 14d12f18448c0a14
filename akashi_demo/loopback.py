"""Services of the story, started on loopback ports in this process (uvicorn in threads)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from identity.crypto.keys import Ed25519PrivateKey
from issuer.app import create_app as create_issuer_app
from issuer.config import IssuerConfig
from issuer.evidence import JpkiTrust, LicenceTrust
from issuer.identity import create_identity
from issuer.service import Issuer
from registry.app import create_app
from registry.client import RegistryClient
from registry.config import RegistryConfig
from registry.genesis import Genesis, sign_member_entry
from registry.service import Service, init_data_dir, open_service, read_private_key
from registry.state import Member, Purpose
from registry.witness_app import create_witness_app
from verifier.app import create_app as create_verifier_app
from verifier.config import VerifierConfig
from verifier.identity import create_identity as create_verifier_identity
from verifier.policies import Policy, default_policies, parse_policies, registered_purposes
from verifier.service import Verifier
from verifier.setup import HttpStatusFetcher

__all__ = ["LoopbackIssuer", "LoopbackRegistry", "LoopbackVerifier", "free_port", "serve_in_thread"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    def __init__(self, app: Starlette, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn:{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the service on port {self.port} did not start")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app: Starlette, port: int | None = None) -> _Server:
    """Serve ``app`` on ``port`` (a free loopback port by default) until ``stop()``."""
    return _Server(app, port)


def free_port() -> int:
    """A loopback port nobody listens on now."""
    return _free_port()


class LoopbackRegistry:
    """A fresh registry node (genesis, keys, SQLite in ``folder``) served on loopback."""

    def __init__(
        self, folder: Path, *, origin: str = "akashi.demo/registry", clock: Callable[[], float] = time.time
    ) -> None:
        self.config = RegistryConfig(data_dir=folder, admission_workers=0)
        result = init_data_dir(self.config, origin=origin, governance_keys=3, threshold=2)
        self.governance: list[Ed25519PrivateKey] = [read_private_key(p) for p in result.governance_key_files]
        self.service: Service = open_service(self.config, clock=clock)
        app = create_app(
            self.service.node, extra_routes=[Mount("/witness", app=create_witness_app(self.service.witness))]
        )
        self._server = serve_in_thread(app)

    @property
    def url(self) -> str:
        """The node's base URL."""
        return self._server.url

    @property
    def genesis(self) -> Genesis:
        """The consortium's genesis."""
        return self.service.genesis

    @property
    def database_files(self) -> list[Path]:
        """Every file the node stores data in."""
        return sorted(p for p in self.config.data_dir.rglob("*") if p.is_file() and ".db" in p.name)

    def stop(self) -> None:
        """Stop serving and close the stores."""
        self._server.stop()
        self.service.close()


class LoopbackIssuer:
    """An identity provider's issuer service (keys and stores in ``folder``) on loopback,
    trusting the given test CA and licence authority, anchoring to ``ledger``."""

    def __init__(
        self,
        folder: Path,
        *,
        jpki_trust: JpkiTrust,
        licence_trust: LicenceTrust,
        ledger: RegistryClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        port = _free_port()
        self.config = IssuerConfig(data_dir=folder, port=port, status_list_size=4096)
        self.identity, self.admin_token = create_identity(folder)
        self.issuer = Issuer(
            self.config,
            self.identity,
            jpki_trust=jpki_trust,
            licence_trust=licence_trust,
            ledger=ledger,
            clock=clock,
        )
        self._server = serve_in_thread(create_issuer_app(self.issuer), port)

    @property
    def url(self) -> str:
        """The credential issuer identifier."""
        return self.config.public_url

    def stop(self) -> None:
        """Stop serving and close the stores."""
        self._server.stop()
        self.issuer.close()


class LoopbackVerifier:
    """An operator's verifier service on loopback: its DID created on ``ledger``, admitted to
    the trust registry by ``governance`` with the purposes of its ``policies``, trusting
    ``issuers``, fetching status lists over HTTP."""

    def __init__(
        self,
        folder: Path,
        *,
        legal_name: str,
        corporate_number: str,
        ledger: RegistryClient,
        governance: list[Ed25519PrivateKey],
        issuers: list[str],
        policies: dict[str, Policy] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        port = _free_port()
        identity, self.admin_token = create_verifier_identity(folder)
        self.policies = policies or parse_policies(default_policies())
        purposes = {p["id"]: Purpose.from_json(p) for p in registered_purposes(self.policies)}
        ledger.submit(identity.did_create_entry())
        member = Member(
            identity.did, "verifier", legal_name, corporate_number, 1, purposes=tuple(purposes.values())
        )
        ledger.submit(sign_member_entry("member.add", member.to_body(), governance))
        self.legal_name = legal_name
        self._fetcher = HttpStatusFetcher()
        self.verifier = Verifier(
            VerifierConfig(data_dir=folder, port=port),
            identity,
            ledger=ledger,
            policies=self.policies,
            issuers=issuers,
            fetch_status_list=self._fetcher,
            clock=clock,
        )
        self._server = serve_in_thread(create_verifier_app(self.verifier), port)

    @property
    def did(self) -> str:
        """The operator's did:akashi."""
        return self.verifier.identity.did

    def stop(self) -> None:
        """Stop serving and close the stores."""
        self._server.stop()
        self.verifier.close()
        self._fetcher.close()
