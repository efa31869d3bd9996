import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import replace

import pytest

from ingest.csvfile import (
    SRCSETS_COLUMN as SRCSETS,
)
from ingest.csvfile import (
    CsvError,
    OutputCsv,
    OutputRow,
    Row,
    build_output_csv,
    check_header,
    neutralise,
    parse_rows,
    split_urls,
)

CLASSIC = "S. No.,Product Name,Input Image Urls\n"
SHORT = "s,product,urls\n"
A = "https://img.example.com/a.jpg"
B = "https://img.example.com/b.png"
C = "https://cdn.example.org/c.webp?w=1"


def parse(
    text: str | bytes,
    *,
    chunk_size: int | None = None,
    max_rows: int = 10_000,
    max_urls_per_row: int = 50,
    max_url_length: int = 2048,
) -> tuple[list[str], list[Row]]:
    """Parse everything, fed as one chunk or as chunks of `chunk_size` bytes."""
    data = text.encode() if isinstance(text, str) else text
    size = chunk_size or max(len(data), 1)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    header, rows = parse_rows(
        chunks,
        max_rows=max_rows,
        max_urls_per_row=max_urls_per_row,
        max_url_length=max_url_length,
    )
    return header, list(rows)


def read_output(chunks: list[str]) -> list[list[str]]:
    """Read the output back as its UTF-8 bytes would be read."""
    text = "".join(chunks).encode().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header_line",
    [
        "S. No.,Product Name,Input Image Urls",
        "s,product,urls",
        " S. No. ,product name,INPUT IMAGE URLS",
        "S.No.,PRODUCT,Urls",
        "sno,product_name,input-image-urls",
        "Input Image Urls,S. No.,Product Name",
    ],
)
def test_accepted_headers_are_returned_as_given(header_line: str) -> None:
    data = f"{header_line}\r\n1,Shoe,{A}\r\n".encode()

    assert check_header(data, whole_file=True) == header_line.split(",")


def test_columns_are_found_in_any_order_and_spelling() -> None:
    header, rows = parse(f"Input Image Urls, S. No. ,PRODUCT\n{A},7,Shoe\n")

    assert header == ["Input Image Urls", " S. No. ", "PRODUCT"]
    assert rows == [Row(0, 2, "7", "Shoe", (A,), (A, "7", "Shoe"))]


def test_bom_is_removed_from_the_first_header_cell() -> None:
    data = codecs.BOM_UTF8 + f"{CLASSIC}1,Shoe,{A}\n".encode()

    assert check_header(data, whole_file=True)[0] == "S. No."
    assert parse(data)[0] == ["S. No.", "Product Name", "Input Image Urls"]


def test_missing_columns_are_named_with_what_was_found() -> None:
    with pytest.raises(CsvError) as caught:
        check_header(b"S. No.,Name,Images\n1,Shoe,x\n", whole_file=True)

    assert str(caught.value) == (
        "Missing columns: 'Product Name' (or 'product'), 'Input Image Urls' (or 'urls'). "
        "Found: 'S. No.', 'Name', 'Images'."
    )


def test_duplicate_required_column_is_rejected() -> None:
    with pytest.raises(CsvError, match=r"'Product Name' \(column 2\) and 'product' \(column 4\)"):
        check_header(b"s,Product Name,urls,product\n1,a,b,c\n", whole_file=True)


@pytest.mark.parametrize("data", [b"", codecs.BOM_UTF8, b"\n\r\n", b" , ,\n\n"])
def test_empty_file_is_rejected(data: bytes) -> None:
    with pytest.raises(CsvError, match="The file is empty"):
        check_header(data, whole_file=True)
    with pytest.raises(CsvError, match="The file is empty"):
        parse(data)


def test_header_only_has_nothing_to_do() -> None:
    data = f"{CLASSIC}\n,,\n".encode()

    with pytest.raises(CsvError, match="no data rows"):
        check_header(data, whole_file=True)
    with pytest.raises(CsvError, match="no data rows"):
        parse(data)
    # By default the bytes are a prefix, which cannot tell yet: the header alone is checked.
    assert check_header(data) == ["S. No.", "Product Name", "Input Image Urls"]


def test_prefix_cut_inside_a_character_and_a_row_is_fine() -> None:
    data = f"{CLASSIC}1,Café ☕,{A}\n".encode()
    cut = data.index("☕".encode()) + 1  # inside the 3-byte character

    assert check_header(data[:cut], whole_file=False)[1] == "Product Name"


def test_prefix_without_a_complete_header_line_is_rejected() -> None:
    with pytest.raises(CsvError, match="does not end within the first 20 bytes"):
        check_header(CLASSIC.encode()[:20], whole_file=False)


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        ("S. No.,Product Name,Input Image Urls\n1,Café,x\n".encode("latin-1"), 42),
        (codecs.BOM_UTF8 + "s,product,urls\n1,Crème,x\n".encode("latin-1"), 22),
        (b"s,product,urls\n1,cut,x\xe2\x98", 22),  # file ends inside a character
    ],
)
def test_non_utf8_is_rejected_with_its_byte_offset(data: bytes, offset: int) -> None:
    message = f"not UTF-8 text: byte 0x{data[offset]:02X} at offset {offset}"
    with pytest.raises(CsvError, match=message):
        check_header(data, whole_file=True)
    for chunk_size in (None, 1, 7):
        with pytest.raises(CsvError, match=message):
            parse(data, chunk_size=chunk_size)


# --- rows ------------------------------------------------------------------------------------


@pytest.mark.parametrize("header_line", [CLASSIC, SHORT])
def test_both_header_styles_give_the_same_rows(header_line: str) -> None:
    _, rows = parse(f'{header_line}1,Shoe,"{A},{B}"\n2,Hat,{C}\n')

    assert rows == [
        Row(0, 2, "1", "Shoe", (A, B), ("1", "Shoe", f"{A},{B}")),
        Row(1, 3, "2", "Hat", (C,), ("2", "Hat", C)),
    ]


def test_whole_file_may_be_given_as_one_bytes_object() -> None:
    header, rows = parse_rows(f"{SHORT}1,Shoe,{A}\n".encode())

    assert (header, list(rows)) == parse(f"{SHORT}1,Shoe,{A}\n", chunk_size=3)


@pytest.mark.parametrize(
    "cell",
    [
        f"{A}, {B}",
        f"{A},{B}",
        f"{A}  ,  {B}",
        f"{A}\n{B}",
        f"{A}\r\n{B}",
        f"{A},\n {B}",
        f"{A},{B},",
        f", {A},,{B} ,",
    ],
)
def test_urls_split_at_commas_and_line_breaks(cell: str) -> None:
    _, rows = parse(f'{SHORT}1,Shoe,"{cell}"\n')

    assert rows[0].urls == (A, B)
    assert rows[0].cells[2] == cell


def test_split_urls_keeps_duplicates_as_separate_slots() -> None:
    assert split_urls(f"{A}, {B}, {A}") == (A, B, A)


def test_row_without_urls_is_kept_with_no_images() -> None:
    _, rows = parse(f'{SHORT}1,Shoe,\n2,Hat," , "\n')

    assert [(row.product, row.urls) for row in rows] == [("Shoe", ()), ("Hat", ())]


def test_blank_lines_are_skipped_and_not_counted() -> None:
    text = f"\n{SHORT}\n1,Shoe,{A}\n\n , ,\n2,Hat,{B}\n\n\n"

    _, rows = parse(text)

    assert [(row.index, row.line, row.serial) for row in rows] == [(0, 4, "1"), (1, 7, "2")]


def test_crlf_and_lf_give_the_same_rows() -> None:
    lf = f'{CLASSIC}1,Shoe,"{A},\n{B}"\n2,Hat,{C}\n'
    crlf = lf.replace("\n", "\r\n")

    def summary(text: str) -> list[tuple[int, int, str, tuple[str, ...]]]:
        return [(row.index, row.line, row.product, row.urls) for row in parse(text)[1]]

    assert summary(crlf) == summary(lf) == [(0, 2, "Shoe", (A, B)), (1, 4, "Hat", (C,))]
    assert parse(crlf)[1][0].cells[2] == f"{A},\r\n{B}"  # a quoted cell keeps its line break


def test_quoted_cells_keep_commas_quotes_and_unicode() -> None:
    text = f'{SHORT}1,"Café ☕, ""large""",{A}\n2,ランニングシューズ,{B}\n'

    _, rows = parse(text)

    assert [row.product for row in rows] == ['Café ☕, "large"', "ランニングシューズ"]


def test_serial_and_product_are_trimmed_but_cells_are_kept_as_given() -> None:
    _, rows = parse(f"{SHORT} 01 ,  Shoe  ,{A}\n")

    assert (rows[0].serial, rows[0].product) == ("01", "Shoe")
    assert rows[0].cells == (" 01 ", "  Shoe  ", A)


def test_extra_columns_are_kept_in_order() -> None:
    text = f"SKU,s,Colour,product,urls,Notes\nX1,1,red,Shoe,{A},new\n"

    header, rows = parse(text)

    assert header == ["SKU", "s", "Colour", "product", "urls", "Notes"]
    assert rows[0].cells == ("X1", "1", "red", "Shoe", A, "new")
    assert (rows[0].serial, rows[0].product, rows[0].urls) == ("1", "Shoe", (A,))


def test_short_row_is_padded_and_empty_extra_cells_are_dropped() -> None:
    _, rows = parse(f"{SHORT}1,Shoe\n2,Hat,{A},,\n")

    assert [row.cells for row in rows] == [("1", "Shoe", ""), ("2", "Hat", A)]


def test_unquoted_url_list_is_an_error_on_its_line() -> None:
    with pytest.raises(CsvError, match=r"^Line 3: 4 cells, but the header has 3 columns") as e:
        parse(f"{SHORT}1,Shoe,{A}\n2,Hat,{A},{B}\n")

    assert e.value.line == 3


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f'{SHORT}1,Shoe,{A}\n2,"Hat"x,{B}\n', 3),
        (f'{SHORT}1,Shoe,{A}\n\n2,Hat,"{B}\n', 4),  # the quote is never closed
    ],
)
def test_broken_quoting_names_the_line(text: str, line: int) -> None:
    with pytest.raises(CsvError, match=f"^Line {line}: not valid CSV") as caught:
        parse(text)

    assert caught.value.line == line
    assert isinstance(caught.value, ValueError)


def test_one_byte_chunks_split_characters_quoted_cells_and_crlf() -> None:
    text = f'{CLASSIC}1,"Café ☕\r\nand more","{A},\r\n{B}"\r\n2,靴,{C}\r\n'
    data = codecs.BOM_UTF8 + text.encode()

    whole = parse(data)
    _, rows = whole

    assert parse(data, chunk_size=1) == whole
    assert parse(data, chunk_size=2) == whole
    assert [(row.line, row.product, row.urls) for row in rows] == [
        (2, "Café ☕\r\nand more", (A, B)),
        (5, "靴", (C,)),
    ]


def test_lone_cr_line_endings_are_read() -> None:
    _, rows = parse(f"{SHORT}1,Shoe,{A}\r2,Hat,{B}\r".encode(), chunk_size=1)

    assert [row.urls for row in rows] == [(A,), (B,)]


def test_a_line_without_its_line_break_is_refused_while_it_is_read() -> None:
    """Lines are held whole until they end: a file without line breaks past its header must
    not be held whole, so a line stops at 1 Mi characters (a quoted cell's lines are each
    counted on their own)."""
    cells = ",".join(["x" * 1000] * 1100)  # 1,101,099 characters: over the limit

    read = []

    def chunks() -> Iterator[bytes]:
        yield f"{SHORT}1,Shoe,{A}\n2,Hat,{B}".encode()
        for n in range(100):  # 100 MB if it were read to the end
            read.append(n)
            yield b"," + cells.encode()

    _, rows = parse_rows(chunks())
    with pytest.raises(CsvError) as caught:
        list(rows)
    assert read == [0]  # refused in the first chunk that broke the limit
    assert str(caught.value) == (
        "Line 3: longer than 1048576 characters, the most one line may hold (or its line "
        "break is missing)."
    )
    assert caught.value.line == 3
    quoted = "\n".join(["y" * 1000] * 1500)  # a 1.5 M-character cell, each line 1,000
    with pytest.raises(CsvError, match=r"^Line 2: a cell is longer than 131072 characters"):
        parse(f'{SHORT}1,"{quoted}",{A}\n')


@pytest.mark.parametrize(
    ("limit", "value", "text", "message"),
    [
        ("max_rows", 2, f"{SHORT}1,a,{A}\n\n2,b,{A}\n3,c,{A}\n", "Line 5: more than 2 rows"),
        ("max_urls_per_row", 2, f'{SHORT}1,a,"{A},{A},{A}"\n', "Line 2: 3 image URLs; the limit"),
        ("max_url_length", 33, f'{SHORT}1,a,"{A},{C}"\n', "Line 2: image URL 2 is 34 char"),
    ],
)
def test_limits_are_enforced(limit: str, value: int, text: str, message: str) -> None:
    limits = {"max_rows": 10, "max_urls_per_row": 10, "max_url_length": 100, limit: value}
    at_limit = {**limits, limit: value + 1}

    with pytest.raises(CsvError, match=f"^{message}"):
        parse(text, **limits)
    assert parse(text, **at_limit)[1]  # one more is allowed: the limit is inclusive


# --- output ----------------------------------------------------------------------------------


def test_output_round_trip_with_failed_slots() -> None:
    header = ["S. No.", "Product Name", "Input Image Urls", "Notes"]
    rows = [
        OutputRow(("1", "Café ☕", f"{A},{B},{C}", "x"), ["o1", None, "o3"], [None, "404", None]),
        OutputRow(("2", "Hat", "", "multi\nline"), [], []),
        OutputRow(("3", "靴", f"{A}, {A}", ""), [None, None], ["timeout", "not an image"]),
    ]

    chunks = list(build_output_csv(header, rows))

    assert chunks[0].encode().startswith(codecs.BOM_UTF8)
    assert all(chunk.endswith("\r\n") for chunk in chunks)
    assert read_output(chunks) == [
        [*header, "Output Image Urls", "Errors"],
        ["1", "Café ☕", f"{A},{B},{C}", "x", "o1,,o3", "2: 404"],
        ["2", "Hat", "", "multi\nline", "", ""],
        ["3", "靴", f"{A}, {A}", "", ",", "1: timeout; 2: not an image"],
    ]


def test_output_with_widths_adds_each_images_srcset_last() -> None:
    out = OutputCsv(["S. No.", "Product Name", "Input Image Urls"], srcsets=True)
    srcset = "https://s/0-0-320w.jpg?x=1 320w, https://s/0-0.jpg?x=2 800w"
    row = OutputRow(("1", "Hat", f"{A},{B},{C}"), ["o1", None, "o3"], [None, "404", None])
    lines = [out.header_line(), out.line(replace(row, srcsets=[srcset, None, srcset]))]

    assert read_output(lines) == [
        ["S. No.", "Product Name", "Input Image Urls", "Output Image Urls", "Errors", SRCSETS],
        ["1", "Hat", f"{A},{B},{C}", "o1,,o3", "2: 404", f"{srcset} |  | {srcset}"],
    ]


def test_output_pads_short_cells_to_the_header() -> None:
    chunks = list(build_output_csv(["s", "product", "urls"], [OutputRow(["1"], ["o"], [None])]))

    assert read_output(chunks)[1] == ["1", "", "", "o", ""]


def test_output_of_a_parsed_csv_reads_back() -> None:
    header, rows = parse(f'{CLASSIC}1,"Shoe, red","{A}, {B}"\n')
    out = [OutputRow(row.cells, ["o1", None], [None, "2: 404 Not Found"]) for row in rows]

    lines = "".join(build_output_csv(header, out)).removeprefix("\ufeff").split("\r\n")

    assert lines == [
        "S. No.,Product Name,Input Image Urls,Output Image Urls,Errors",
        f'1,"Shoe, red","{A}, {B}","o1,",2: 2: 404 Not Found',
        "",
    ]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+2", "'+1+2"),
        ("-5", "'-5"),  # OWASP: prefix even what looks like a number
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        (A, A),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised(cell: str, written: str) -> None:
    chunks = list(build_output_csv([cell], [OutputRow([cell], [cell], [cell])]))

    assert neutralise(cell) == written
    header, row = read_output(chunks)
    assert header[0] == written
    assert row[:2] == [written, written]
    assert row[2] == ("" if not cell else f"1: {cell}")


def test_output_row_needs_one_error_entry_per_slot() -> None:
    with pytest.raises(ValueError, match="one entry per image slot"):
        OutputRow(["1"], ["a", "b"], [None])
