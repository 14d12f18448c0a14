"""The ledger node: a verifiable append-only log and its derived state (to be built)."""
