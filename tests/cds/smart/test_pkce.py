"""PKCE S256 against RFC 7636's own example (Appendix B)."""

import re

from cds.smart.pkce import challenge, new_verifier


def test_the_challenge_of_the_rfc_example_verifier() -> None:
    assert (
        challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_a_verifier_is_43_to_128_unreserved_characters_and_new_each_time() -> None:
    verifiers = {new_verifier() for _ in range(20)}
    assert len(verifiers) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", v) for v in verifiers)
