"""The target's HTTP digest authentication (RFC 7616): challenges it issues and answers it checks.

Standard library only, like the rest of the target. Written from the RFC, independently of the
client's ``tswarm.clients._digest``, so that a test of one against the other means something.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import OrderedDict

#: the algorithms the target offers, by the name a challenge carries
ALGORITHMS = {
    "MD5": "md5",
    "MD5-SESS": "md5",
    "SHA-256": "sha256",
    "SHA-256-SESS": "sha256",
    "SHA-512": "sha512",
    "SHA-512-SESS": "sha512",
}
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_ISSUED_NONCES_KEPT = 4096


class DigestVerifier:
    """Issues nonces and checks ``Authorization: Digest`` answers against a user and password."""

    def __init__(self) -> None:
        # nonce -> the highest nonce count seen with it (a replayed count is refused)
        self._nonces: OrderedDict[str, int] = OrderedDict()

    def challenge(self, realm: str, qop: str, algorithm: str) -> str:
        """A ``WWW-Authenticate`` value with a fresh nonce."""
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = 0
        while len(self._nonces) > _ISSUED_NONCES_KEPT:
            self._nonces.popitem(last=False)
        qop_part = f', qop="{qop}"' if qop != "none" else ""
        return f'Digest realm="{realm}", nonce="{nonce}", opaque="{secrets.token_hex(8)}", algorithm={algorithm}{qop_part}'

    def check(
        self, authorization: str, method: str, uri: str, user: str, password: str, qop: str, algorithm: str
    ) -> bool:
        """Whether ``authorization`` is a right answer to one of this verifier's challenges for ``uri``."""
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "digest":
            return False
        params = {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
            for m in _PARAM.finditer(rest)
        }
        nonce = params.get("nonce", "")
        if nonce not in self._nonces or params.get("username") != user or params.get("uri") != uri:
            return False
        if params.get("algorithm", "MD5").upper() != algorithm.upper():
            return False
        name = ALGORITHMS[algorithm.upper()]

        def digest(text: str) -> str:
            return hashlib.new(name, text.encode()).hexdigest()

        realm = params.get("realm", "")
        ha1 = digest(f"{user}:{realm}:{password}")
        if algorithm.upper().endswith("-SESS"):
            ha1 = digest(f"{ha1}:{nonce}:{params.get('cnonce', '')}")
        ha2 = digest(f"{method}:{uri}")
        if qop == "none":
            expected = digest(f"{ha1}:{nonce}:{ha2}")
        else:
            count_text = params.get("nc", "")
            if params.get("qop") != "auth" or not re.fullmatch(r"[0-9a-fA-F]{8}", count_text):
                return False
            count = int(count_text, 16)
            if count <= self._nonces[nonce]:
                return False
            self._nonces[nonce] = count
            expected = digest(f"{ha1}:{nonce}:{count_text}:{params.get('cnonce', '')}:auth:{ha2}")
        return secrets.compare_digest(expected, params.get("response", ""))
