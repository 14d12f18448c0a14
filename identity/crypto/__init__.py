"""The hazmat layer: encodings, canonical JSON, hashes and keys.

The only part of akashi that imports nacl or base58.
"""
