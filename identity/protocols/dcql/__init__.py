"""Digital Credentials Query Language (OpenID for Verifiable Presentations 1.0, section 6).

::

    verifier                                   wallet
    sd_jwt_credential / claim / credential_set
    dcql_query → DcqlQuery.to_json()   ─────▶  parse_dcql_query(_json)
                                               select_credentials(query, [Candidate…])
                                               → {query id: [(candidate, [paths])]} → sdjwt.present
    sdjwt.verify → check_presentation  ◀─────  vp_token
    → DcqlCheck (requested / not_requested disclosures)

* :mod:`.query` — model, strict parser, builders;
* :mod:`.pointer` — claims path pointers (section 7) and value matching;
* :mod:`.matching` — the wallet's selection of credentials and claims;
* :mod:`.checking` — the verifier's check of what it received.
"""

from identity.protocols.dcql.checking import CheckedPresentation, DcqlCheck, check_presentation
from identity.protocols.dcql.matching import Candidate, Selection, match_credential, select_credentials
from identity.protocols.dcql.pointer import path_within
from identity.protocols.dcql.query import (
    DEFAULT_LIMITS,
    SD_JWT_VC_FORMAT,
    ClaimsQuery,
    ClaimValue,
    CredentialQuery,
    CredentialSetQuery,
    DcqlLimits,
    DcqlQuery,
    TrustedAuthoritiesQuery,
    claim,
    credential_set,
    dcql_query,
    parse_dcql_query,
    parse_dcql_query_json,
    sd_jwt_credential,
)

__all__ = [
    "DEFAULT_LIMITS",
    "SD_JWT_VC_FORMAT",
    "Candidate",
    "CheckedPresentation",
    "ClaimValue",
    "ClaimsQuery",
    "CredentialQuery",
    "CredentialSetQuery",
    "DcqlCheck",
    "DcqlLimits",
    "DcqlQuery",
    "Selection",
    "TrustedAuthoritiesQuery",
    "check_presentation",
    "claim",
    "credential_set",
    "dcql_query",
    "match_credential",
    "parse_dcql_query",
    "parse_dcql_query_json",
    "path_within",
    "sd_jwt_credential",
    "select_credentials",
]
