"""Passphrases stored as scrypt keys (memory-hard) with a random salt and the parameters next
to the key, compared in constant time. Runs on one machine (no network, no AWS)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

# scrypt cost: N=2^15, r=8 -> 32 MiB and ~0.1 s per try on a PC (OWASP's minimum is N=2^17 with
# r=8 for stored hashes of high value; the login lockout (logins.py) limits tries, so 2^15 keeps the login
# quick on an old office PC). Stored with each key, so raising it later needs no migration.
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_LEN, SALT_LEN = 1 << 15, 8, 1, 32, 16


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def hash_passphrase(passphrase: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$key`` for ``passphrase`` with a fresh random salt."""
    salt = secrets.token_bytes(SALT_LEN)
    key = _scrypt(passphrase, salt, n, r, p)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        passphrase.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r * p + (1 << 20),
        dklen=KEY_LEN,
    )


def check_passphrase(passphrase: str, stored: str) -> bool:
    """True when ``passphrase`` matches ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        n_, r_, p_ = int(n), int(r), int(p)
        if not (1 << 10 <= n_ <= 1 << 20 and 1 <= r_ <= 32 and 1 <= p_ <= 16):
            return False
        want = base64.b64decode(key, validate=True)
        got = _scrypt(passphrase, base64.b64decode(salt, validate=True), n_, r_, p_)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# a key to compare against for names that do not exist, so a wrong name takes as long as a
# wrong passphrase (no telling which names exist by timing)
@functools.cache
def dummy_key() -> str:
    return hash_passphrase(secrets.token_urlsafe(16))
