"""ASIN and barcode list files: CSV (with or without a header) or one code per line.

Each line's code is an ASIN (10 letters and digits; a book's ISBN-10 is its
ASIN) or a barcode (UPC-A, EAN-8/13, ISBN-13, checked by its check digit).
Blank lines and lines starting with ``#`` are skipped.  Every problem names
the file and the line, all of them at once::

    scanned.csv: line 4: '9780316769175': the check digit should be 4, not 5
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from keepa_deals.errors import ConfigError
from keepa_deals.codes import InvalidCode, is_asin, normalize_code

#: At most this many problems are listed (a wrong file has one per line).
MAX_PROBLEMS = 20


class ListFileError(ConfigError):
    """A list file cannot be read or holds a code that is not one; names file and line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class ListEntry:
    line: int
    kind: Literal["asin", "code"]
    #: The ASIN (upper-cased) or the normalised barcode.
    value: str


def _column(header: list[str], column: str | None) -> int | None:
    """The index of the code column when the first row is a header, else None."""
    names = [h.strip().lower() for h in header]
    if column is not None:
        return names.index(column.lower()) if column.lower() in names else -1
    for i, name in enumerate(names):
        if name in ("asin", "isbn", "isbn13", "isbn10", "upc", "ean", "code", "barcode", "gtin"):
            return i
    return None


def parse_list(text: str, *, source: str, column: str | None = None) -> list[ListEntry]:
    """The codes of a list file's text (de-duplicated, in file order)."""
    rows = list(csv.reader(io.StringIO(text)))
    problems: list[str] = []
    index = 0
    start = 0
    first = next((i for i, r in enumerate(rows) if r and r[0].strip()
                  and not r[0].lstrip().startswith("#")), None)
    if first is not None:
        at = _column(rows[first], column)
        if at == -1:
            raise ListFileError(source, [f"line {first + 1}: no column {column!r} in the "
                                         f"header {rows[first]!r}"])
        if at is not None:
            index, start = at, first + 1
        elif column is not None:
            raise ListFileError(source, [f"column = {column!r} but line {first + 1} is not "
                                         "a header"])
    out: list[ListEntry] = []
    seen: set[str] = set()
    for n, row in enumerate(rows[start:], start=start + 1):
        if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        raw = row[index].strip() if index < len(row) else ""
        if not raw:
            problems.append(f"line {n}: no code in column {index + 1}")
            continue
        entry = _entry(n, raw, problems)
        if entry is not None and entry.value not in seen:
            seen.add(entry.value)
            out.append(entry)
    if problems:
        more = len(problems) - MAX_PROBLEMS
        raise ListFileError(source, problems[:MAX_PROBLEMS]
                            + ([f"... and {more} more"] if more > 0 else []))
    return out


def _entry(line: int, raw: str, problems: list[str]) -> ListEntry | None:
    compact = raw.replace("-", "").replace(" ", "").upper()
    if len(compact) == 10 and is_asin(compact):
        if compact.isdigit() or compact[:9].isdigit():  # an ISBN-10: check it
            try:
                normalize_code(compact)
            except InvalidCode as exc:
                problems.append(f"line {line}: {exc}")
                return None
        return ListEntry(line, "asin", compact)
    try:
        return ListEntry(line, "code", normalize_code(raw))
    except InvalidCode as exc:
        problems.append(f"line {line}: {exc}")
        return None


def read_list(path: str | Path, *, column: str | None = None) -> list[ListEntry]:
    """Read and check the list file at ``path``; ListFileError names what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ListFileError(str(path), ["the list file does not exist"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ListFileError(str(path), [f"cannot read the list file: {reason}"]) from None
    return parse_list(text, source=str(path), column=column)


__all__ = ["ListEntry", "ListFileError", "parse_list", "read_list"]
