"""Tests for CPF/CNPJ normalization and validation."""

import pytest

from energy_api.clients.documents import (
    DocumentError,
    complete_cpf,
    is_valid_cnpj,
    is_valid_cpf,
    normalize_document,
    validate_document,
)

# Check digits of every document below were computed with the mod-11 algorithm and
# verified by hand.
VALID_CPFS = ["52998224725", "11144477735", "12345678909"]
VALID_NUMERIC_CNPJS = ["11222333000181", "11444777000161"]
VALID_ALPHANUMERIC_CNPJ = "12ABC34501DE35"
# Lowercase letters valued as ord(c) - 48 would give check digits "05" here; the
# character rule alone must reject it.
LOWERCASE_CNPJ_WITH_MATCHING_DIGITS = "12abc34501de05"
# Unicode digits (U+FF10..U+FF19) that str.isdigit() accepts but a CPF must not contain.
FULLWIDTH_CPF = "".join(chr(0xFF10 + int(c)) for c in "52998224725")

INVALID_CPF_CHECK = ["52998224715", "52998224726", "11144477734", "12345678919"]
INVALID_CNPJ_CHECK = ["11222333000182", "11222333000171", "12ABC34501DE36"]
SPACED_CPFS = [" 529 982 247 25 ", "529\t982\n247\r25", "5299\u00a08224725"]
WRONG_SHAPE = ["", "5299822472", "529982247250", "ABC123", "12AB_34501DE35"]


# --- normalize_document -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("529.982.247-25", "52998224725"),
        ("11.222.333/0001-81", "11222333000181"),
        ("12.ABC.345/01DE-35", "12ABC34501DE35"),
    ],
)
def test_normalize_removes_dots_dashes_and_slashes(raw: str, expected: str) -> None:
    assert normalize_document(raw) == expected


@pytest.mark.parametrize("raw", SPACED_CPFS)
def test_normalize_removes_all_whitespace(raw: str) -> None:
    assert normalize_document(raw) == "52998224725"


def test_normalize_upper_cases_letters() -> None:
    assert normalize_document("12abc34501de35") == "12ABC34501DE35"


def test_normalize_keeps_other_characters() -> None:
    assert normalize_document("a_b+c") == "A_B+C"


# --- is_valid_cpf -----------------------------------------------------------------


@pytest.mark.parametrize("doc", VALID_CPFS)
def test_cpf_with_correct_check_digits_is_valid(doc: str) -> None:
    assert is_valid_cpf(doc) is True


@pytest.mark.parametrize("digit", "0123456789")
def test_cpf_with_repeated_digits_is_invalid(digit: str) -> None:
    # Repeated-digit CPFs pass the mod-11 check; only the explicit rule rejects them.
    assert is_valid_cpf(digit * 11) is False


@pytest.mark.parametrize("doc", INVALID_CPF_CHECK)
def test_cpf_with_wrong_check_digit_is_invalid(doc: str) -> None:
    assert is_valid_cpf(doc) is False


@pytest.mark.parametrize("doc", ["5299822472", "529982247250", ""])
def test_cpf_with_wrong_length_is_invalid(doc: str) -> None:
    assert is_valid_cpf(doc) is False


@pytest.mark.parametrize("doc", ["5299822472A", "529.982.247-25", FULLWIDTH_CPF])
def test_cpf_with_non_ascii_digit_characters_is_invalid(doc: str) -> None:
    assert is_valid_cpf(doc) is False


def test_cnpj_is_not_a_valid_cpf() -> None:
    assert is_valid_cpf("11222333000181") is False


# --- is_valid_cnpj ----------------------------------------------------------------


@pytest.mark.parametrize("doc", VALID_NUMERIC_CNPJS)
def test_numeric_cnpj_with_correct_check_digits_is_valid(doc: str) -> None:
    assert is_valid_cnpj(doc) is True


def test_alphanumeric_cnpj_with_correct_check_digits_is_valid() -> None:
    assert is_valid_cnpj(VALID_ALPHANUMERIC_CNPJ) is True


@pytest.mark.parametrize("doc", INVALID_CNPJ_CHECK)
def test_cnpj_with_wrong_check_digit_is_invalid(doc: str) -> None:
    assert is_valid_cnpj(doc) is False


def test_cnpj_letter_value_is_ord_minus_48() -> None:
    # 'B' (18) instead of 'A' (17) changes the expected check digits from 35 to 07.
    assert is_valid_cnpj("12BBC34501DE07") is True
    assert is_valid_cnpj("12BBC34501DE35") is False


def test_cnpj_with_repeated_zeros_is_invalid() -> None:
    # 00000000000000 passes the mod-11 check; only the explicit rule rejects it.
    assert is_valid_cnpj("00000000000000") is False


@pytest.mark.parametrize("doc", ["1122233300018", "112223330001811", ""])
def test_cnpj_with_wrong_length_is_invalid(doc: str) -> None:
    assert is_valid_cnpj(doc) is False


def test_cnpj_with_lowercase_letters_is_invalid_without_normalization() -> None:
    assert is_valid_cnpj(LOWERCASE_CNPJ_WITH_MATCHING_DIGITS) is False


@pytest.mark.parametrize("doc", ["12ABC34501DEAB", "12ABC34501DE3A", "12ABC34501DEab"])
def test_cnpj_with_letters_in_check_digit_positions_is_invalid(doc: str) -> None:
    assert is_valid_cnpj(doc) is False


@pytest.mark.parametrize("doc", ["12AB_34501DE35", "12ÁBC34501DE35", "11222333/00181"])
def test_cnpj_with_characters_outside_0_9_a_z_is_invalid(doc: str) -> None:
    assert is_valid_cnpj(doc) is False


# --- DocumentError ----------------------------------------------------------------


def test_document_error_is_a_value_error_with_message() -> None:
    error = DocumentError("documento is invalid")
    assert isinstance(error, ValueError)
    assert error.message == "documento is invalid"
    assert str(error) == "documento is invalid"


# --- validate_document (strict) ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("529.982.247-25", "52998224725"),
        ("11.222.333/0001-81", "11222333000181"),
        ("12.ABC.345/01DE-35", "12ABC34501DE35"),
    ],
)
def test_strict_returns_normalized_valid_document(raw: str, expected: str) -> None:
    assert validate_document(raw, strict=True) == expected


def test_strict_normalizes_lowercase_cnpj() -> None:
    assert validate_document("12.abc.345/01de-35", strict=True) == "12ABC34501DE35"


@pytest.mark.parametrize("raw", ["529.982.247-26", "111.111.111-11"])
def test_strict_rejects_cpf_with_invalid_check_digits(raw: str) -> None:
    with pytest.raises(DocumentError, match="wrong CPF check digits"):
        validate_document(raw, strict=True)


@pytest.mark.parametrize("raw", ["11.222.333/0001-82", "12.ABC.345/01DE-36", "0" * 14])
def test_strict_rejects_cnpj_with_invalid_check_digits(raw: str) -> None:
    with pytest.raises(DocumentError, match="wrong CNPJ check digits"):
        validate_document(raw, strict=True)


@pytest.mark.parametrize("raw", ["12ABC34501DEab", "12ABC34501DE3a"])
def test_strict_rejects_lowercase_letters_in_check_digit_positions(raw: str) -> None:
    with pytest.raises(DocumentError, match="wrong length or characters"):
        validate_document(raw, strict=True)


@pytest.mark.parametrize("raw", WRONG_SHAPE)
def test_strict_rejects_wrong_length_or_characters(raw: str) -> None:
    with pytest.raises(DocumentError, match="wrong length or characters"):
        validate_document(raw, strict=True)


def test_strict_error_message_names_cpf_and_cnpj() -> None:
    expected = "documento must be a valid CPF (11 digits) or CNPJ (14 characters)"
    with pytest.raises(DocumentError) as excinfo:
        validate_document("123", strict=True)
    assert excinfo.value.message.startswith(expected)


# --- validate_document (lenient) --------------------------------------------------


def test_lenient_normalizes_and_upper_cases() -> None:
    assert validate_document("abc-123", strict=False) == "ABC123"


def test_lenient_accepts_document_with_invalid_check_digits() -> None:
    assert validate_document("529.982.247-26", strict=False) == "52998224726"


@pytest.mark.parametrize("raw", ["a", "A" * 20, "a.b-c/d " * 5])
def test_lenient_accepts_1_to_20_characters(raw: str) -> None:
    assert validate_document(raw, strict=False) == normalize_document(raw)


@pytest.mark.parametrize("raw", ["", " .-/ "])
def test_lenient_rejects_empty_document(raw: str) -> None:
    with pytest.raises(DocumentError, match="between 1 and 20"):
        validate_document(raw, strict=False)


def test_lenient_rejects_more_than_20_characters() -> None:
    with pytest.raises(DocumentError, match="between 1 and 20"):
        validate_document("A" * 21, strict=False)


def test_lenient_counts_length_after_normalization() -> None:
    raw = "1.2.3.4.5.6.7.8.9.0.1.2.3.4.5.6.7.8.9.0"
    assert validate_document(raw, strict=False) == "12345678901234567890"


@pytest.mark.parametrize(
    ("first_nine", "expected"),
    [("529982247", "52998224725"), ("111444777", "11144477735"), ("123456789", "12345678909")],
)
def test_complete_cpf_appends_the_two_check_digits(first_nine: str, expected: str) -> None:
    assert complete_cpf(first_nine) == expected
