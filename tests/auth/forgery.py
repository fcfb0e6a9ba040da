"""Hand-made JWTs for the attack suite: HMAC with any key and header, and RS256.

An attacker's RSA key (a throwaway, generated for these tests) signs RS256 tokens with textbook
PKCS#1 v1.5 and gives the PEM public key used in the HS/RS confusion attack. No cryptography
package is needed, and each helper is small enough to check by eye.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from tests.auth.helpers import b64url, segment

ATTACKER_P = int(
    "db34a649461cc628e581e166a968cdfdc5e188df6f70618d12a6dafb463143af4263e44196c28a43"
    "741f452132a7a1122c9b44fd57b4c584c246b5ec856644359555692d005b2d56aee31713c9e05e85"
    "58805261782fbfd76cab3270ffc119a5f5ac293307d762b74e9399f4ea0e6126fa769b0ec0cdb2f1"
    "1d3636872736b753",
    16,
)
ATTACKER_Q = int(
    "cd3be137efff8e7bd73f29ae313cd1c62df66426778b848d435fbfbddc547dc8b74fe74915345149"
    "984850974eab6b4c150c93c2b53cc865f7c173ffad612361efc53a9f8d54381238f9bfcda0f398ce"
    "b19ffb7e4f9e17d0dc6b190de0085890154693fd3144b4550ca2b9a1c99fddc03208519f5292a213"
    "1ba182d376a524c3",
    16,
)
ATTACKER_N = ATTACKER_P * ATTACKER_Q
ATTACKER_E = 65537
ATTACKER_D = pow(ATTACKER_E, -1, (ATTACKER_P - 1) * (ATTACKER_Q - 1))
_KEY_BYTES = (ATTACKER_N.bit_length() + 7) // 8
# DER DigestInfo prefix for SHA-256 (RFC 8017 §9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def hmac_token(
    header: dict[str, Any],
    claims: dict[str, Any],
    key: bytes,
    digest: Callable[..., Any] = hashlib.sha256,
) -> str:
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def _pkcs1_v15_sha256(message: bytes) -> bytes:
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    padding = b"\xff" * (_KEY_BYTES - len(digest_info) - 3)
    return b"\x00\x01" + padding + b"\x00" + digest_info


def rs256_token(claims: dict[str, Any]) -> str:
    signing_input = f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(claims)}"
    encoded = int.from_bytes(_pkcs1_v15_sha256(signing_input.encode()), "big")
    signature = pow(encoded, ATTACKER_D, ATTACKER_N).to_bytes(_KEY_BYTES, "big")
    return f"{signing_input}.{b64url(signature)}"


def rs256_signature_verifies(token: str) -> bool:
    """Check an RS256 token against the attacker's public key (proves the forgery is real)."""
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    recovered = pow(int.from_bytes(raw, "big"), ATTACKER_E, ATTACKER_N).to_bytes(_KEY_BYTES, "big")
    return recovered == _pkcs1_v15_sha256(signing_input.encode())


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def _der_integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def attacker_public_key_pem() -> bytes:
    """The attacker's RSA public key as a PEM SubjectPublicKeyInfo (what servers publish)."""
    rsa_encryption = bytes.fromhex("06092a864886f70d0101010500")
    public_key = _der(0x30, _der_integer(ATTACKER_N) + _der_integer(ATTACKER_E))
    spki = _der(0x30, _der(0x30, rsa_encryption) + _der(0x03, b"\x00" + public_key))
    body = base64.b64encode(spki).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"
    ).encode()
