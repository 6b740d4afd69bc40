"""Password hashing with Argon2id (argon2-cffi's RFC 9106 low-memory profile)."""

from __future__ import annotations

import re
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("dummy password for timing")

MIN_PASSWORD_LENGTH = 10
#: zxcvbn's score (0–4) a password must reach: 3 is "safely unguessable" (about 10^8 guesses and more).
MIN_STRENGTH_SCORE = 3
#: zxcvbn's cost grows with the length; what lies past this is not looked at (and is only stronger).
_STRENGTH_PREFIX = 64


def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def _french_words() -> tuple[str, ...]:
    text = (Path(__file__).with_name("common_passwords_fr.txt")).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


_COMMON: frozenset[str] | None = None
_FRENCH: tuple[str, ...] = ()


def _made_of(letters: str, parts: set[str]) -> bool:
    """Whether ``letters`` is only the person's name parts glued together (``samdupont``)."""
    if not letters or not parts:
        return False
    reachable = [True] + [False] * len(letters)
    for end in range(1, len(letters) + 1):
        reachable[end] = any(reachable[end - len(part)] and letters.endswith(part, 0, end)
                             for part in parts if len(part) <= end)
    return reachable[-1]


def password_weakness(password: str, user_inputs: list[str] | tuple[str, ...] = ()) -> str | None:
    """``common`` (in the 30,000 most used passwords), ``personal`` (built on the person's name or
    e-mail), ``guessable`` (zxcvbn score below 3), or None for a good password."""
    global _COMMON, _FRENCH
    if _COMMON is None:
        _COMMON, _FRENCH = _common_passwords(), _french_words()
    if password.lower() in _COMMON or password.lower() in _FRENCH:
        return "common"
    # The person's name and e-mail, whole and in parts ("sam.dupont@…" → "sam", "dupont").
    personal = {part for value in user_inputs if value
                for part in [value.lower(), *re.split(r"[\s.@_+\-]+", value.lower())] if len(part) >= 3}
    sample = password[:_STRENGTH_PREFIX]
    if _made_of(re.sub(r"[^a-zà-ÿ]+", "", sample.lower()), personal):
        return "personal"
    mine = zxcvbn(sample, user_inputs=sorted(personal))
    if personal and mine["score"] < MIN_STRENGTH_SCORE and any(
            m.get("dictionary_name") == "user_inputs" for m in mine.get("sequence", [])):
        return "personal"
    # French words rank just after the person's own (zxcvbn's dictionaries are English).
    result = zxcvbn(sample, user_inputs=list(_FRENCH))
    if min(result["score"], mine["score"]) >= MIN_STRENGTH_SCORE:
        return None
    return "guessable"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
