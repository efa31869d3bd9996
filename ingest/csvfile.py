"""The users' CSV in and the output CSV out: pure functions, no I/O.

Input: UTF-8 (a BOM is allowed), comma-separated, a header row, then one row per product.
Required columns, in any order, with extra columns kept:

    S. No.  (or s)   Product Name  (or product)   Input Image Urls  (or urls)

Header names match case-insensitively, ignoring spaces, dots, underscores and hyphens, so
" S. No. ", "S.No.", "sno", "PRODUCT_NAME" and "input-image-urls" are all accepted. The URL
cell holds any number of URLs separated by commas and/or line breaks (quote the cell).
A URL that itself contains a comma must write it as %2C. A line holds at most 1,048,576
characters, so memory holds one line at most, whatever the file.
"""

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

OUTPUT_URLS_COLUMN = "Output Image Urls"
ERRORS_COLUMN = "Errors"
# Last, and only when the request asked for `widths`: each image's srcset, " | " between
# images (a srcset holds commas; a link never holds a space).
SRCSETS_COLUMN = "Output Image Srcsets"
SRCSET_SEPARATOR = " | "

# (name shown to users, short name, accepted spellings after _normalise()).
_REQUIRED = (
    ("S. No.", "s", frozenset({"sno", "s"})),
    ("Product Name", "product", frozenset({"productname", "product"})),
    ("Input Image Urls", "urls", frozenset({"inputimageurls", "urls"})),
)
_IGNORED_IN_NAMES = re.compile(r"[\s._-]+")
_URL_SEPARATORS = re.compile(r"[,\r\n]")
_LINE_END = re.compile(r"\r\n|\r|\n")
# Far above a real row's (50 URLs of 2,048 characters are 100 kB), and what memory holds of
# a line at most while it is read.
_MAX_LINE = 1024 * 1024
# OWASP "CSV Injection": a cell starting with one of these may run as a spreadsheet formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_EMPTY = "The file is empty: expected a header row with S. No., Product Name, Input Image Urls."
_NO_ROWS = "The file has a header row but no data rows: there is nothing to do."


class CsvError(ValueError):
    """The CSV cannot be used; the message is meant for the user who uploaded it."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line  # 1-based line in the file, when one line is at fault


@dataclass(frozen=True)
class Row:
    """One data row. `index` identifies it; `serial` is only a label and may repeat."""

    index: int  # 0-based among data rows (blank lines are not rows)
    line: int  # 1-based line of the file where the row starts
    serial: str  # S. No. cell, surrounding whitespace removed
    product: str  # Product Name cell, surrounding whitespace removed
    urls: tuple[str, ...]  # one image slot each, duplicates kept; may be empty
    cells: tuple[str, ...]  # all cells as given, padded to the header's width


@dataclass(frozen=True)
class OutputRow:
    """An input row's cells and, per image slot (input URL order), its result."""

    cells: Sequence[str]
    output_urls: Sequence[str | None]  # None: the image failed, its slot stays empty
    errors: Sequence[str | None]  # the reason a slot failed, else None
    srcsets: Sequence[str | None] = ()  # per slot, with a request's `widths` (else empty)

    def __post_init__(self) -> None:
        if len(self.output_urls) != len(self.errors):
            raise ValueError("output_urls and errors need one entry per image slot")


def check_header(first_bytes: bytes, *, whole_file: bool = False) -> list[str]:
    """Return the header cells as given, or raise CsvError: the gateway's check before upload.

    `first_bytes` is a prefix of the file (its cut-off last line and character are ignored)
    or, with `whole_file=True`, the whole file: then a file without data rows is rejected too.
    """
    text = "".join(_decode([first_bytes], final=whole_file))
    if not whole_file:
        text = text[: max(text.rfind("\n"), text.rfind("\r")) + 1]
        if not text.strip():
            raise CsvError(
                f"The header row does not end within the first {len(first_bytes)} bytes."
            )
    records = _records(_lines([text]))
    header, _ = _read_header(records)
    if whole_file and all(_is_blank(cells) for _, cells in records):
        raise CsvError(_NO_ROWS)
    return header


def parse_rows(
    chunks: bytes | Iterable[bytes],
    *,
    max_rows: int = 10_000,
    max_urls_per_row: int = 50,
    max_url_length: int = 2048,
) -> tuple[list[str], Iterator[Row]]:
    """Read the header now and return it with a lazy iterator over the data rows.

    `chunks` (or the whole file as one bytes object) may split the bytes anywhere: inside a
    character, a quoted cell or a CRLF.

    Blank lines are skipped. A short row is padded with empty cells; cells beyond the header
    are an error unless empty (then dropped). A row without URLs is kept and has no images.
    The iterator raises CsvError (naming the line) after the rows before it, and raises "no
    data rows" at the end: read every row before acting on any.
    """
    records = _records(_lines(_decode([chunks] if isinstance(chunks, bytes) else chunks)))
    header, columns = _read_header(records)
    limits = (max_rows, max_urls_per_row, max_url_length)
    return header, _rows(records, len(header), columns, limits)


def split_urls(cell: str) -> tuple[str, ...]:
    """The URLs in a cell: split at commas and line breaks, trimmed, empty pieces dropped."""
    return tuple(url for piece in _URL_SEPARATORS.split(cell) if (url := piece.strip()))


class OutputCsv:
    """Writes the output CSV one line at a time: the user's columns, output URLs and errors.

    Send it as UTF-8: it starts with a BOM so that spreadsheet programs read it as UTF-8.
    Lines end with CRLF. Failed slots stay empty ("url1,,url3") and are listed in Errors as
    "2: reason". With `srcsets`, a last column holds each image's srcset (SRCSETS_COLUMN).
    Every cell is neutralised against formula injection (see `neutralise`).
    """

    def __init__(self, header: Sequence[str], srcsets: bool = False) -> None:
        self._header = list(header)
        self._srcsets = srcsets
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def _take(self, cells: Iterable[str]) -> str:
        self._writer.writerow([neutralise(cell) for cell in cells])
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def header_line(self) -> str:
        extra = [SRCSETS_COLUMN] if self._srcsets else []
        return "\ufeff" + self._take([*self._header, OUTPUT_URLS_COLUMN, ERRORS_COLUMN, *extra])

    def line(self, row: OutputRow) -> str:
        padding = [""] * (len(self._header) - len(row.cells))
        outputs = ",".join(url or "" for url in row.output_urls)
        errors = "; ".join(f"{n}: {why}" for n, why in enumerate(row.errors, 1) if why)
        if not self._srcsets:
            return self._take([*row.cells, *padding, outputs, errors])
        srcsets = SRCSET_SEPARATOR.join(s or "" for s in row.srcsets)
        return self._take([*row.cells, *padding, outputs, errors, srcsets])


def build_output_csv(header: Sequence[str], rows: Iterable[OutputRow]) -> Iterator[str]:
    """The whole output CSV, one line per chunk (see OutputCsv)."""
    out = OutputCsv(header)
    yield out.header_line()
    for row in rows:
        yield out.line(row)


def neutralise(cell: str) -> str:
    """Prefix `'` to a cell a spreadsheet could run as a formula (OWASP's CSV Injection advice).

    As OWASP advises, this applies to every such cell, so "-5" is written as "'-5".
    """
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _decode(chunks: Iterable[bytes], *, final: bool = True) -> Iterator[str]:
    """UTF-8 text of bytes split anywhere, without its BOM; an error names the byte offset."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes given to the decoder so far
    at_start = True
    for chunk in chunks:
        text = _decode_chunk(decoder, chunk, offset, final=False)
        offset += len(chunk)
        if at_start and text:
            text, at_start = text.removeprefix("\ufeff"), False
        yield text
    if final:  # raises if the file ends inside a character
        yield _decode_chunk(decoder, b"", offset, final=True)


def _decode_chunk(decoder: codecs.IncrementalDecoder, data: bytes, offset: int, final: bool) -> str:
    held = len(decoder.getstate()[0])  # bytes of a character begun in the previous chunk
    try:
        return decoder.decode(data, final)
    except UnicodeDecodeError as exc:
        at = offset - held + exc.start
        raise CsvError(
            f"The file is not UTF-8 text: byte 0x{exc.object[exc.start]:02X} at offset {at} "
            'is not valid UTF-8. Save it as "CSV UTF-8" and upload it again.'
        ) from None


def _lines(texts: Iterable[str]) -> Iterator[str]:
    """Cut text pieces into lines, keeping their endings, as csv.reader needs.

    csv.reader takes the end of each string it is given as a line end, so pieces are cut at
    \\n, \\r\\n and \\r only (not at str.splitlines' other breaks), and a \\r ending a piece
    waits for the next piece in case it starts with \\n.
    """
    partial: list[str] = []
    held = 0  # characters in `partial`
    line = 1
    held_cr = ""
    for piece in texts:
        text, held_cr = held_cr + piece, ""
        if text.endswith("\r"):
            text, held_cr = text[:-1], "\r"
        start = 0
        for match in _LINE_END.finditer(text):
            partial.append(text[start : match.end()])
            yield "".join(partial)
            partial.clear()
            held, line, start = 0, line + 1, match.end()
        partial.append(text[start:])
        held += len(text) - start
        if held > _MAX_LINE:  # else a file without line breaks would be held whole
            raise CsvError(
                f"Line {line}: longer than {_MAX_LINE} characters, the most one line may hold "
                "(or its line break is missing).",
                line=line,
            )
    if rest := "".join(partial) + held_cr:
        yield rest


def _records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(line where it starts, cells) of each CSV record, blank ones included."""
    reader = csv.reader(lines, strict=True)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                limit = csv.field_size_limit()
                raise CsvError(
                    f"Line {line}: a cell is longer than {limit} characters, the most one cell "
                    "may hold (or a quote is not closed).",
                    line=line,
                ) from None
            raise CsvError(
                f"Line {line}: not valid CSV ({exc}). Check the quotes in this row.", line=line
            ) from None
        yield line, cells
        line = reader.line_num + 1


def _read_header(records: Iterator[tuple[int, list[str]]]) -> tuple[list[str], list[int]]:
    """The first non-blank record and the indexes of the required columns in it."""
    for _, cells in records:
        if not _is_blank(cells):
            return cells, _find_columns(cells)
    raise CsvError(_EMPTY)


def _find_columns(header: Sequence[str]) -> list[int]:
    found: list[int] = []
    missing: list[str] = []
    for name, short, spellings in _REQUIRED:
        hits = [i for i, cell in enumerate(header) if _normalise(cell) in spellings]
        if len(hits) > 1:
            a, b = hits[:2]
            raise CsvError(
                f"Columns {header[a]!r} (column {a + 1}) and {header[b]!r} (column {b + 1}) "
                f"are both the {name!r} column: keep only one."
            )
        if hits:
            found.append(hits[0])
        else:
            missing.append(f"{name!r} (or {short!r})")
    if missing:
        raise CsvError(
            f"Missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}. "
            f"Found: {', '.join(repr(cell) for cell in header)}."
        )
    return found


def _rows(
    records: Iterator[tuple[int, list[str]]],
    width: int,
    columns: Sequence[int],
    limits: tuple[int, int, int],
) -> Iterator[Row]:
    max_rows, max_urls, max_url_length = limits
    serial, product, urls_at = columns
    index = 0
    for line, cells in records:
        if _is_blank(cells):
            continue
        if index == max_rows:
            raise CsvError(f"Line {line}: more than {max_rows} rows; split the file.", line=line)
        if any(cell.strip() for cell in cells[width:]):
            raise CsvError(
                f"Line {line}: {len(cells)} cells, but the header has {width} columns. "
                'Quote a cell that holds several URLs: "url1, url2".',
                line=line,
            )
        cells = cells[:width] + [""] * (width - len(cells))
        urls = split_urls(cells[urls_at])
        if len(urls) > max_urls:
            raise CsvError(
                f"Line {line}: {len(urls)} image URLs; the limit is {max_urls} per row.", line=line
            )
        for n, url in enumerate(urls, 1):
            if len(url) > max_url_length:
                raise CsvError(
                    f"Line {line}: image URL {n} is {len(url)} characters long; "
                    f"the limit is {max_url_length}.",
                    line=line,
                )
        yield Row(index, line, cells[serial].strip(), cells[product].strip(), urls, tuple(cells))
        index += 1
    if index == 0:
        raise CsvError(_NO_ROWS)


def _normalise(name: str) -> str:
    return _IGNORED_IN_NAMES.sub("", name).casefold()


def _is_blank(cells: Sequence[str]) -> bool:
    return not any(cell.strip() for cell in cells)
