"""Validation and normalization of Brazilian taxpayer documents (CPF and CNPJ).

All functions are pure: they perform no I/O and depend only on their arguments.

CNPJ validation follows the alphanumeric format introduced by the Brazilian Federal
Revenue (issued from July 2026): the first 12 characters may be digits or upper-case
letters, the last 2 are always numeric check digits. Each character is valued as
``ord(c) - 48``, so digits keep their numeric value and ``'A'`` is worth 17. Classic
all-numeric CNPJs remain valid under this rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "DocumentError",
    "is_valid_cnpj",
    "is_valid_cpf",
    "normalize_document",
    "validate_document",
]

CPF_LENGTH = 11
CNPJ_LENGTH = 14
LENIENT_MAX_LENGTH = 20

_STRIP_PATTERN = re.compile(r"[.\-/\s]")
_CPF_PATTERN = re.compile(r"[0-9]{11}")
_CNPJ_PATTERN = re.compile(r"[0-9A-Z]{12}[0-9]{2}")

_CPF_FIRST_WEIGHTS: tuple[int, ...] = tuple(range(10, 1, -1))
_CPF_SECOND_WEIGHTS: tuple[int, ...] = tuple(range(11, 1, -1))
_CNPJ_FIRST_WEIGHTS: tuple[int, ...] = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_SECOND_WEIGHTS: tuple[int, ...] = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)

_CPF_OR_CNPJ = "a valid CPF (11 digits) or CNPJ (14 characters)"
INVALID_DOCUMENT_MESSAGE = f"documento must be {_CPF_OR_CNPJ} with correct check digits"


class DocumentError(ValueError):
    """Raised when a document (CPF/CNPJ) fails validation.

    The ``message`` attribute holds a human-readable explanation in English.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalize_document(raw: str) -> str:
    """Remove ``.``, ``-``, ``/`` and all whitespace from ``raw`` and upper-case it."""
    return _STRIP_PATTERN.sub("", raw).upper()


def _mod11_check_digit(values: Sequence[int], weights: Sequence[int]) -> int:
    """Return the mod-11 check digit: 0 if the remainder is < 2, else 11 - remainder."""
    remainder = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def is_valid_cpf(doc: str) -> bool:
    """Return whether ``doc`` (already normalized) is a valid CPF.

    A valid CPF has exactly 11 ASCII digits, is not a single repeated digit and its
    last two digits match the standard mod-11 check digits.
    """
    if _CPF_PATTERN.fullmatch(doc) is None:
        return False
    if len(set(doc)) == 1:
        return False
    values = [int(c) for c in doc]
    first = _mod11_check_digit(values[:9], _CPF_FIRST_WEIGHTS)
    second = _mod11_check_digit(values[:10], _CPF_SECOND_WEIGHTS)
    return values[9] == first and values[10] == second


def complete_cpf(first_nine: str) -> str:
    """The CPF whose first nine digits are ``first_nine``, with its two check digits."""
    values = [int(c) for c in first_nine]
    values.append(_mod11_check_digit(values, _CPF_FIRST_WEIGHTS))
    values.append(_mod11_check_digit(values, _CPF_SECOND_WEIGHTS))
    return "".join(map(str, values))


def _has_cnpj_shape(doc: str) -> bool:
    """Return whether ``doc`` has 12 ``[0-9A-Z]`` characters followed by 2 digits."""
    return _CNPJ_PATTERN.fullmatch(doc) is not None


def _has_valid_cnpj_check_digits(doc: str) -> bool:
    """Return whether a correctly shaped CNPJ has matching check digits."""
    if len(set(doc)) == 1:
        return False
    values = [ord(c) - 48 for c in doc]
    first = _mod11_check_digit(values[:12], _CNPJ_FIRST_WEIGHTS)
    second = _mod11_check_digit(values[:13], _CNPJ_SECOND_WEIGHTS)
    return values[12] == first and values[13] == second


def is_valid_cnpj(doc: str) -> bool:
    """Return whether ``doc`` (already normalized) is a valid, maybe alphanumeric, CNPJ.

    A valid CNPJ has 14 characters: 12 in ``[0-9A-Z]`` followed by 2 check digits
    computed with mod-11 over character values ``ord(c) - 48``. A string made of a
    single repeated character (e.g. ``00000000000000``) is rejected.
    """
    return _has_cnpj_shape(doc) and _has_valid_cnpj_check_digits(doc)


def validate_document(raw: str, *, strict: bool) -> str:
    """Normalize ``raw`` and validate it, returning the normalized document.

    Lenient mode (``strict=False``) accepts any normalized value of 1 to 20 characters.
    Strict mode requires a valid CPF or CNPJ.

    Raises:
        DocumentError: if the document does not satisfy the selected mode.
    """
    doc = normalize_document(raw)
    if not strict:
        if not 1 <= len(doc) <= LENIENT_MAX_LENGTH:
            raise DocumentError(
                f"documento must have between 1 and {LENIENT_MAX_LENGTH} characters "
                "after removing punctuation and spaces"
            )
        return doc

    if _CPF_PATTERN.fullmatch(doc) is not None:
        if is_valid_cpf(doc):
            return doc
        raise DocumentError(f"{INVALID_DOCUMENT_MESSAGE}: wrong CPF check digits")
    if _has_cnpj_shape(doc):
        if _has_valid_cnpj_check_digits(doc):
            return doc
        raise DocumentError(f"{INVALID_DOCUMENT_MESSAGE}: wrong CNPJ check digits")
    raise DocumentError(f"{INVALID_DOCUMENT_MESSAGE}: wrong length or characters")
