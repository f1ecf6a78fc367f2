"""The class's passwords: issued by fm_hub.py, only their scrypt hash kept;
check_login is the test the hub's authenticator (jupyterhub_config.py) makes.
"""

import base64
import hashlib
import hmac
import secrets

from fm_hub_state import paths, read_json


PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}


def new_password() -> str:
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(4)) for _ in range(3))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt$%d$%d$%d$%s$%s" % (SCRYPT["n"], SCRYPT["r"], SCRYPT["p"],
                                      base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def password_matches(stored: str, password: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=int(r), p=int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def check_login(state: str, username: str, password: str) -> bool:
    """The authenticator's test: does `password` match the hash kept for `username`?"""
    stored = read_json(paths(state)["passwords"], {}).get(username)
    return bool(stored) and password_matches(stored, password)
