"""HTTP digest authentication (RFC 7616) for ``auth=requests.auth.HTTPDigestAuth(...)``.

Standard library only. requests' own HTTPDigestAuth answers its 401 by sending again through requests'
adapter, which tswarm's client does not have; this module does the same exchange for tswarm's
session: the challenge parsed, the answer built (MD5, SHA-256, SHA-512 and their -sess forms, qop
``auth`` or none, the nonce count per nonce), and the nonce kept for the next requests of the user.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable

#: the hash each algorithm a server may name uses
_HASH_NAMES = {
    "MD5": "md5",
    "MD5-SESS": "md5",
    "SHA": "sha1",
    "SHA-256": "sha256",
    "SHA-256-SESS": "sha256",
    "SHA-512": "sha512",
    "SHA-512-SESS": "sha512",
}
# name=value or name="quoted value" pairs of a challenge
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_DIGEST_SCHEME = re.compile(r"(?:^|,)\s*digest\s+", re.IGNORECASE)


def parse_challenge(www_authenticate: str) -> dict[str, str] | None:
    """The parameters of the ``Digest`` challenge in a ``WWW-Authenticate`` value, None if it has none."""
    found = _DIGEST_SCHEME.search(www_authenticate)
    if found is None:
        return None
    params: dict[str, str] = {}
    for match in _CHALLENGE_PARAM.finditer(www_authenticate, found.end()):
        name = match.group(1).lower()
        if name in params:
            break  # the parameters of the next challenge (another scheme) start here
        quoted = match.group(2)
        params[name] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match.group(3)
    return params if "nonce" in params else None


class DigestCredentials:
    """One user's digest credentials and the last challenge answered with them (its nonce and count)."""

    __slots__ = ("_challenge", "_nonce_count", "password", "username")

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self._challenge: dict[str, str] | None = None
        self._nonce_count = 0

    @property
    def challenged(self) -> bool:
        """Whether a server challenged these credentials already (later requests answer at once)."""
        return self._challenge is not None

    def accept(self, challenge: dict[str, str]) -> None:
        """Answer ``challenge`` from now on; a new nonce starts its count again."""
        if self._challenge is None or self._challenge.get("nonce") != challenge.get("nonce"):
            self._nonce_count = 0
        self._challenge = challenge

    def authorization(self, method: str, uri: str) -> str | None:
        """The ``Authorization`` value for ``method`` on ``uri`` (path and query), None when the
        challenge asks for something this client does not do (an unknown algorithm, qop auth-int only)."""
        challenge = self._challenge
        if challenge is None:
            return None
        algorithm = challenge.get("algorithm", "MD5").upper()
        hash_name = _HASH_NAMES.get(algorithm)
        if hash_name is None:
            return None
        qop_offered = [q.strip().lower() for q in challenge.get("qop", "").split(",") if q.strip()]
        if qop_offered and "auth" not in qop_offered:
            return None
        digest: Callable[[str], str] = lambda text: hashlib.new(hash_name, text.encode()).hexdigest()  # noqa: E731
        realm, nonce = challenge.get("realm", ""), challenge["nonce"]
        self._nonce_count += 1
        count = f"{self._nonce_count:08x}"
        client_nonce = os.urandom(8).hex()
        secret = digest(f"{self.username}:{realm}:{self.password}")
        if algorithm.endswith("-SESS"):
            secret = digest(f"{secret}:{nonce}:{client_nonce}")
        request_digest = digest(f"{method}:{uri}")
        if qop_offered:
            answer = digest(f"{secret}:{nonce}:{count}:{client_nonce}:auth:{request_digest}")
        else:
            answer = digest(f"{secret}:{nonce}:{request_digest}")
        fields = [
            f'username="{self.username}"',
            f'realm="{realm}"',
            f'nonce="{nonce}"',
            f'uri="{uri}"',
            f'response="{answer}"',
        ]
        if "opaque" in challenge:
            fields.append(f'opaque="{challenge["opaque"]}"')
        if "algorithm" in challenge:
            fields.append(f"algorithm={challenge['algorithm']}")
        if qop_offered:
            fields.append(f'qop=auth, nc={count}, cnonce="{client_nonce}"')
        return "Digest " + ", ".join(fields)
