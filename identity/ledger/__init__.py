"""The ledger half of the identity core: what a client needs to trust a log.

- :mod:`.merkle` — RFC 9162 leaf and node hashes; inclusion and consistency
  proof *verification* (the security-critical part, rules numbered as the RFC).
- :mod:`.tree` — building those proofs from stored perfect-subtree hashes in
  O(log n) reads (:class:`~.tree.ProofPlan`), and an in-memory tree.
- :mod:`.proofs` — the JSON forms of proofs (``specs/inclusion-proof``,
  ``specs/consistency-proof``; hashes in base64url).
- :mod:`.note` — C2SP signed notes: Ed25519 note keys, verifier key strings,
  signing and verification against a set of known keys.
- :mod:`.checkpoint` — C2SP tlog-checkpoint bodies and the log's signature.
- :mod:`.cosignature` — C2SP tlog-cosignature v1 timestamped witness signatures.
- :mod:`.policy` — the log key plus k of n distinct witness keys, fresh enough.
- :mod:`.envelope` — signed ledger entry envelopes (``specs/ledger-envelope``),
  their canonical leaf bytes and digests.
- :mod:`.evidence` — an entry with its inclusion proof and cosigned checkpoint
  note, as records carry it, checked offline; the no-fork rule across many.

Everything here is pure: no I/O, no clock (``now`` is passed in), no randomness.
"""
