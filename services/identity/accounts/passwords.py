"""Staff passwords: argon2id hashes and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.errors import ValidationFailed
from services.common.text import fold

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
#: a dummy hash verified when the account does not exist, so timing does not reveal which usernames exist
_DUMMY = _hasher.hash("dummy-password-for-timing")

COMMON = {"password", "matkhau", "123456789", "12345678910", "qwertyuiop", "admin12345", "abc123456789", "iloveyou"}
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def policy_errors(password: str, *, username: str = "") -> list[str]:
    """What the password lacks; empty when it is acceptable."""
    errors = []
    if len(password) < MIN_LENGTH:
        errors.append(f"at least {MIN_LENGTH} characters")
    if len(password) > 256:
        errors.append("at most 256 characters")
    classes = sum(
        [any(c.islower() for c in password), any(c.isupper() for c in password), any(c.isdigit() for c in password),
         any(not c.isalnum() for c in password)]
    )
    if classes < 3:
        errors.append("at least three of: lower-case, upper-case, digit, symbol")
    if username and fold(username) in fold(password):
        errors.append("must not contain the username")
    if fold(password) in COMMON:
        errors.append("too common")
    return errors


def require_policy(password: str, *, username: str, field: str, title: str) -> None:
    """422 naming ``field``, one error per thing the password lacks; nothing when it is acceptable."""
    problems = policy_errors(password, username=username)
    if problems:
        raise ValidationFailed(title, errors=[{"field": field, "message": p} for p in problems])
