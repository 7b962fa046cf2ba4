"""API keys: principals found by the SHA-256 digest of their key, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

_SHA256_HEX_RE = re.compile(r"[0-9a-fA-F]{64}")
_HASH_PREFIX = "sha256:"


def _is_hash(value: str) -> bool:
    """Whether a configured key value is a 'sha256:<hex>' digest rather than a key."""
    return value.startswith(_HASH_PREFIX)


def _digest(key: str) -> bytes:
    """SHA-256 of an API key."""
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeyStore:
    """Maps API keys to principals by stored SHA-256 digests, compared in constant time."""

    def __init__(self, digests: Mapping[str, bytes]) -> None:
        seen: set[bytes] = set()
        for principal, digest in digests.items():
            if len(digest) != 32:
                raise ValueError(f"API key digest for {principal!r} is not 32 bytes")
            if digest in seen:
                raise ValueError(f"API key for {principal!r} is shared with another principal")
            seen.add(digest)
        self._entries: tuple[tuple[str, bytes], ...] = tuple(digests.items())

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def from_keys(cls, keys: Mapping[str, str]) -> ApiKeyStore:
        """Build from principal -> plaintext key."""
        for principal, key in keys.items():
            if not key:
                raise ValueError(f"API key for {principal!r} is empty")
        return cls({principal: _digest(key) for principal, key in keys.items()})

    @classmethod
    def from_hashes(cls, hashes: Mapping[str, str]) -> ApiKeyStore:
        """Build from principal -> sha256 hex digest of the key."""
        digests: dict[str, bytes] = {}
        for principal, hexdigest in hashes.items():
            if not _SHA256_HEX_RE.fullmatch(hexdigest):
                raise ValueError(f"API key hash for {principal!r} is not 64 hex characters")
            digests[principal] = bytes.fromhex(hexdigest)
        return cls(digests)

    @classmethod
    def from_config(cls, entries: Mapping[str, str]) -> ApiKeyStore:
        """Build from principal -> key, where a value 'sha256:<hex>' is a stored digest."""
        hashes = {p: v.removeprefix(_HASH_PREFIX) for p, v in entries.items() if _is_hash(v)}
        keys = {p: v for p, v in entries.items() if not _is_hash(v)}
        merged = dict(cls.from_hashes(hashes)._entries) | dict(cls.from_keys(keys)._entries)
        return cls(merged)

    def authenticate(self, key: str) -> str | None:
        """The principal owning key, or None; every entry is compared to keep timing flat."""
        if not key:
            return None
        digest = _digest(key)
        found: str | None = None
        for principal, stored in self._entries:
            if hmac.compare_digest(digest, stored):
                found = principal
        return found
