"""The password policy: what a new password must be, wherever it is set (API, admin, CLI).

At least `MIN_LENGTH` characters, with a letter and a digit (as the Django system this service
replaces asked), and not the username. Passwords already stored are not judged again: the policy
applies when a password is chosen.
"""

from __future__ import annotations

MIN_LENGTH = 8
MAX_LENGTH = 1024
RULES_TEXT = f"at least {MIN_LENGTH} characters, with a letter and a digit, and not the username"


def problems(password: str, username: str) -> list[str]:
    """What is wrong with `password` as a new password for `username` (empty: acceptable)."""
    found: list[str] = []
    if len(password) < MIN_LENGTH:
        found.append(f"must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        found.append(f"must have at most {MAX_LENGTH} characters")
    if not any(character.isalpha() for character in password):
        found.append("must contain a letter")
    if not any(character.isdecimal() for character in password):
        found.append("must contain a digit")
    if username and password.casefold() == username.casefold():
        found.append("must not be the username")
    return found
