"""Proof Key for Code Exchange (RFC 7636) with the S256 method, the one SMART App Launch 2 requires."""

import base64
import hashlib
import secrets


def new_verifier() -> str:
    """A code verifier: 64 URL-safe characters (RFC 7636 allows 43 to 128), 384 random bits."""
    return secrets.token_urlsafe(48)


def challenge(verifier: str) -> str:
    """The S256 code challenge of a verifier: BASE64URL(SHA256(verifier)), without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
