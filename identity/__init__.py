"""akashi's pure identity core: keys, DIDs, JOSE, SD-JWT, status lists, ledger proofs.

No network, no database, no clock and no randomness of its own: time and
random sources are passed in by the caller.
"""

__version__ = "0.1.0"
