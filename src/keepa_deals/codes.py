"""Product codes: ISBN-10, ISBN-13, UPC-A and EAN-8/13, checked by their check digit.

::

    normalize_code("0-316-76917-7")   # "9780316769174": ISBN-10 becomes its ISBN-13
    normalize_code("036000291452")    # "036000291452" (UPC-A)
    normalize_code("9780316769175")   # InvalidCode: the check digit should be 4

Keepa's ``/product?code=`` takes UPC, EAN and ISBN-13; an ISBN-10 is sent as
the ISBN-13 it stands for (978 + its nine digits + a new check digit).
Hyphens and spaces are ignored; anything else that is not a digit (bar the
ISBN-10's final ``X``) is an error.
"""

from __future__ import annotations

import re

from keepa_deals.errors import KeepaDealsError

_JUNK = re.compile(r"[\s-]")


class InvalidCode(KeepaDealsError, ValueError):
    """Not a product code: the wrong length, a stray character, or a wrong check digit."""


def gtin_check_digit(body: str) -> int:
    """The GS1 check digit of ``body`` (the code without its last digit)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def isbn10_check_digit(body: str) -> str:
    total = sum(int(d) * (10 - i) for i, d in enumerate(body))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def normalize_code(raw: str) -> str:
    """The code as Keepa takes it (digits; an ISBN-10 as its ISBN-13), or InvalidCode."""
    code = _JUNK.sub("", raw).upper()
    if len(code) == 10 and re.fullmatch(r"\d{9}[\dX]", code):
        if isbn10_check_digit(code[:9]) != code[9]:
            raise InvalidCode(f"{raw!r}: not an ISBN-10, the check digit should be "
                              f"{isbn10_check_digit(code[:9])}")
        body = "978" + code[:9]
        return body + str(gtin_check_digit(body))
    if not code.isdigit():
        raise InvalidCode(f"{raw!r}: a barcode is digits only (an ISBN-10 may end in X)")
    if len(code) not in (8, 12, 13):
        raise InvalidCode(f"{raw!r}: {len(code)} digits; a barcode is an EAN-8, a UPC-A (12), "
                          "an EAN-13/ISBN-13 (13) or an ISBN-10 (10)")
    expected = gtin_check_digit(code[:-1])
    if int(code[-1]) != expected:
        raise InvalidCode(f"{raw!r}: the check digit should be {expected}, not {code[-1]}")
    return code


def is_asin(text: str) -> bool:
    """An ASIN: 10 letters and digits (a 10-digit ASIN is a book's ISBN-10)."""
    return bool(re.fullmatch(r"[A-Z0-9]{10}", text.strip().upper()))


__all__ = ["InvalidCode", "gtin_check_digit", "is_asin", "isbn10_check_digit", "normalize_code"]
