"""The issuer's evidence checks: real cryptography against the trust anchors in its config.

* :mod:`.jpki` — a My Number card (JPKI) signature over a challenge, its certificate chain,
  validity and revocation, and the basic four items it certifies (AML method ワ);
* :mod:`.licence` — a driver's licence IC chip's data signed by its issuing authority
  (method ヘ together with the provider's face comparison);
* :mod:`.challenges` — the random, single-use, short-lived challenges a card signs;
* :mod:`.pki` — the X.509 path and CRL rules both build on;
* :mod:`.testca` — a local test CA and the simulated card reader, for tests and the demo.

Each ``verify_*`` returns the verified claims and evidence or raises an identity.errors
exception; none reads a clock or a file (``now`` is passed in).
"""

from issuer.evidence.challenges import Challenge, ChallengeBook, ChallengeStore
from issuer.evidence.jpki import BasicFour, JpkiResult, JpkiTrust, verify_jpki_signature
from issuer.evidence.licence import LicenceData, LicenceResult, LicenceTrust, verify_licence

__all__ = [
    "BasicFour",
    "Challenge",
    "ChallengeBook",
    "ChallengeStore",
    "JpkiResult",
    "JpkiTrust",
    "LicenceData",
    "LicenceResult",
    "LicenceTrust",
    "verify_jpki_signature",
    "verify_licence",
]
