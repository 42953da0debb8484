"""Hex digests for `get_file` and `validate_file`: the expected hash, parsed once, and streamed hashing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

# Bytes read (and hashed) at a time.
_CHUNK_SIZE = 1 << 20
_HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}


@dataclass(frozen=True)
class _Expected:
    """A normalised `file_hash` and its algorithm."""

    digest: str
    algorithm: str

    @classmethod
    def parse(cls, file_hash: str | None, algorithm: str) -> _Expected | None:
        name = str(algorithm).lower()
        if name != "auto":
            name = _algorithm_name(algorithm)  # checked even without file_hash: before any byte moves
        if file_hash is None:
            return None
        digest = str(file_hash).strip().lower()
        if not digest or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"file_hash={file_hash!r} is not a hexadecimal hash string.")
        if name == "auto":
            if len(digest) not in _HASH_LENGTHS:
                raise ValueError(
                    f"file_hash={file_hash!r} has {len(digest)} hex digits; with hash_algorithm='auto' "
                    "expected 32 (md5), 40 (sha1), 64 (sha256) or 128 (sha512). "
                    "Pass hash_algorithm= to name the algorithm."
                )
            return cls(digest, _HASH_LENGTHS[len(digest)])
        return cls(digest, name)


def _algorithm_name(algorithm: str, argument: str = "hash_algorithm") -> str:
    """The `hashlib` name of `algorithm` (lower case); a ValueError naming `argument` if unknown."""
    name = str(algorithm).lower()
    if name not in hashlib.algorithms_available:
        raise ValueError(
            f"{argument}={algorithm!r} is not a known hash algorithm; "
            "expected 'auto', 'md5', 'sha256' or another hashlib name."
        )
    try:
        hashlib.new(name).hexdigest()
    except TypeError as error:  # shake_128, shake_256: a digest of a length the caller chooses
        raise ValueError(
            f"{argument}={algorithm!r} makes digests of any length, so a file hash cannot be checked with "
            "it here; use a fixed-length algorithm such as 'sha256', 'sha512', 'sha3_256' or 'blake2b'."
        ) from error
    except ValueError as error:  # listed by hashlib but refused by this OpenSSL build (e.g. md4)
        raise ValueError(
            f"{argument}={algorithm!r} is not usable in this Python ({error}); use 'sha256' or 'md5'."
        ) from error
    return name


def _hash_stream(stream: Any, algorithm: str, chunk_size: int) -> str:
    hasher = hashlib.new(algorithm)
    buffer = bytearray(max(1, chunk_size))
    view = memoryview(buffer)
    while count := stream.readinto(buffer):
        hasher.update(view[:count])
    return hasher.hexdigest()
