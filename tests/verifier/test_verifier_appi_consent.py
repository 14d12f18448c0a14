"""The APPI record of a presentation under a consent that allows updates carries the ledger
proof of the consent's grant, as well as of each credential's anchor, and the export verifies
both offline (an auditor sees that the person consented, not only what was disclosed)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "holder_app"))

from services_world import services_and_wallet

from verifier.export import verify_export


def test_the_appi_record_proves_the_consent_grant_and_the_export_verifies_it(tmp_path: Path) -> None:
    with services_and_wallet(tmp_path) as (services, wallet):
        wallet.receive(services.licence_offer())
        consent = wallet.approve(wallet.open_request(services.request_url("car-sharing"))).consent
        assert consent is not None
        rows = services.verifier.customers.appi_rows()
        assert rows and all(row["consent"]["receipt_digest"] == consent.digest for row in rows)
        for row in rows:
            anchor = row["consent"]["anchor"]
            assert anchor is not None and anchor["entry"]["type"] == "consent.grant"
            assert anchor["entry"]["body"]["receipt_digest"] == consent.digest
        out = tmp_path / "appi.jsonl"
        services.verifier.customers.export_jsonl(out)
        trust = services.trust
        report = verify_export(out, log_key_vkey=trust.log_key, witness_vkeys=list(trust.witnesses), k=1)
        assert report.ok, report.failures
