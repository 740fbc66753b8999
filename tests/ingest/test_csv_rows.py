"""CSV bulk link/upload rows: the file refused as a whole, or each record valid or an error
at the line it starts on."""

from __future__ import annotations

import base64
import io

import pytest

from tributary.ingest.csv_rows import CsvImport, CsvRow, RowError, open_csv_import
from tributary.ingest.errors import CsvRefused
from tributary.ingest.seen_ids import SeenIds

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n fake image").decode()


def opened(tmp_path, text: str | bytes, **options) -> CsvImport:
    path = tmp_path / "items.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return open_csv_import(path, **options)


def read_all(csv_import: CsvImport) -> tuple[list[CsvRow], list[RowError]]:
    rows, errors = [], []
    for batch in csv_import.batches():
        rows += batch.rows
        errors += batch.errors
    return rows, errors


def lines_and_codes(errors: list[RowError]) -> list[tuple[int, str]]:
    return [(e.line, e.code) for e in errors]


def test_link_rows_take_the_specs_defaults(tmp_path):
    rows, errors = read_all(opened(tmp_path, "ID,URL\ncat.jpg,https://cdn.example/c.jpg\n"))
    assert errors == []
    assert rows == [
        CsvRow(
            2,
            "cat.jpg",
            "cat.jpg",
            "link",
            "https://cdn.example/c.jpg",
            None,
            "image/jpeg",
            None,
            None,
        )
    ]


def test_blank_lines_before_the_header_are_skipped(tmp_path):
    rows, errors = read_all(opened(tmp_path, "\n\r\nID,URL\na,ftp://x/a\nb,http://x.example/b\n"))
    assert [(r.line, r.id) for r in rows] == [(5, "b")]
    assert lines_and_codes(errors) == [(4, "bad_scheme")]


def test_every_column(tmp_path):
    text = (
        "id,url,name,action,mimetype,item_metadata,item_description,image_bytes\n"
        'v1,https://x.example/a.MOV?sig=1,clip.mov,Upload,video,"{""cam"": 7}",first take,\n'
    )
    (row,) = read_all(opened(tmp_path, text))[0]
    assert (row.id, row.name, row.action, row.mimetype) == (
        "v1",
        "clip.mov",
        "upload",
        "video/quicktime",
    )
    assert row.metadata == {"cam": 7} and row.description == "first take"


def test_headers_any_case_a_bom_and_extra_columns(tmp_path):
    text = "\ufeff Id ,Url,Notes,,Item_Metadata\na,http://x.example/a,hello,,\n"
    csv_import = opened(tmp_path, text)
    assert csv_import.ignored_columns == ["Notes", "(column 4 without a name)"]
    assert csv_import.warnings == ["ignored columns: Notes, (column 4 without a name)"]
    rows, errors = read_all(csv_import)
    assert [r.id for r in rows] == ["a"] and errors == []


def test_line_numbers_count_quoted_newlines_blank_lines_and_crlf(tmp_path):
    text = (
        "ID,URL,item_description\r\n"  # 1
        'a,http://x.example/a,"two\r\nlines"\r\n'  # 2-3
        "\r\n"  # 4: blank, skipped
        "b,ftp://x.example/b,\r\n"  # 5
        'c,http://x.example/c,"three\nmore\nlines"\n'  # 6-8
        ",http://x.example/d,\n"  # 9
        "e,http://x.example/e,last"  # 10, no final newline
    )
    csv_import = opened(tmp_path, text)
    rows, errors = read_all(csv_import)
    assert [(r.line, r.id) for r in rows] == [(2, "a"), (6, "c"), (10, "e")]
    assert rows[0].description == "two\r\nlines"
    assert lines_and_codes(errors) == [(5, "bad_scheme"), (9, "empty_id")]
    assert (csv_import.rows, csv_import.valid, csv_import.failed) == (5, 3, 2)


BAD_ROWS = [
    ("r1,not a url,,,,,", "bad_url", "not a URL"),
    ("r2,ftp://x.example/f,,,,,", "bad_scheme", "scheme 'ftp' is not http or https"),
    ("r3,javascript:alert(1),,,,,", "bad_scheme", "scheme 'javascript'"),
    ("r4,http://10.0.0.1:99999/,,,,,", "bad_url", "malformed URL"),
    ("r5,,%%%,upload,,,", "bad_base64", "image_bytes is not valid base64"),
    ("r6,,data:image/png;base64,@@@,upload,,,", "too_many_fields", "8 fields"),
    ('r6b,,"data:image/png,raw",upload,,,', "bad_base64", "not a base64 one"),
    ('r6c,,"data:image/png;base64,@@@",upload,,,', "bad_base64", "not valid base64"),
    ("r7,http://x.example/a,,,,[1],", "bad_metadata", "item_metadata is not a JSON object"),
    ('r8,http://x.example/a,,,,"{""a"":",', "bad_metadata", "item_metadata is not valid JSON"),
    (f"r9,,{PNG},link,,,", "link_without_url", "action link needs a URL"),
    (f"r10,,{PNG},,,,", "link_without_url", "only image_bytes"),
    ("r11,http://x.example/a,,delete,,,", "unknown_action", "unknown action 'delete'"),
    (" ,http://x.example/a,,,,,", "empty_id", "empty ID"),
    ("r12,,,upload,,,", "no_content", "neither a URL nor image_bytes"),
    ("r13,http://x.example/a,,,jpeg,,", "bad_mimetype", "'jpeg' is not type/subtype"),
    ("a/b.jpg,http://x.example/a,,,,,", "bad_name", "not one path segment"),
    ("r14,http://x.example/a,,,,,,extra", "too_many_fields", "8 fields where the header has 7"),
    ("r15,http://u:secret@x.example/a,,,,,", "bad_url", "user:password@"),
]


@pytest.mark.parametrize(
    ("record", "code", "reason"), BAD_ROWS, ids=[b[1] + b[0][:4] for b in BAD_ROWS]
)
def test_each_bad_row_is_reported_with_its_line(tmp_path, record, code, reason):
    header = "ID,URL,image_bytes,action,mimetype,item_metadata,name\n"
    text = header + "ok1,http://x.example/1,,,,,\n" + record + "\nok2,http://x.example/2,,,,,\n"
    rows, errors = read_all(opened(tmp_path, text))
    assert [r.id for r in rows] == ["ok1", "ok2"]
    (error,) = errors
    assert (error.line, error.code) == (3, code)
    assert reason in error.reason and "\n" not in error.reason and "secret" not in error.reason


def test_upload_rows_decode_base64_and_data_uris(tmp_path):
    raw = base64.b64decode(PNG)
    wrapped = "\n".join(PNG[i : i + 8] for i in range(0, len(PNG), 8))
    text = (
        "ID,image_bytes,action,URL\n"
        f"plain,{PNG},upload,\n"
        f'uri,"data:image/png;base64,{PNG}",upload,\n'
        f'wrapped,"{wrapped}",upload,\n'
        "by-url,,upload,https://x.example/p.png\n"
        f"both,{PNG},upload,https://x.example/q.png\n"
    )
    rows, errors = read_all(opened(tmp_path, text))
    assert errors == []
    assert [(r.id, r.url, r.data, r.mimetype) for r in rows] == [
        ("plain", None, raw, "image/jpeg"),
        ("uri", None, raw, "image/png"),  # the data URI's type, when the row gives none
        ("wrapped", None, raw, "image/jpeg"),
        ("by-url", "https://x.example/p.png", None, "image/jpeg"),
        ("both", "https://x.example/q.png", None, "image/jpeg"),  # the URL is the content
    ]
    assert rows[2].line == 4 and rows[3].line == 4 + wrapped.count("\n") + 1


def test_duplicate_ids_within_and_across_batches(tmp_path):
    text = "ID,URL\n" + "".join(
        f"{i},http://x.example/{i}\n" for i in ["a", "b", "a", "c", "b", "a"]
    )
    csv_import = opened(tmp_path, text, batch_rows=2)
    batches = list(csv_import.batches())
    assert [len(b.rows) + len(b.errors) for b in batches] == [2, 2, 2]
    errors = [e for b in batches for e in b.errors]
    assert [(e.line, e.id, e.reason) for e in errors] == [
        (4, "a", "duplicate ID (first on line 2)"),
        (6, "b", "duplicate ID (first on line 3)"),
        (7, "a", "duplicate ID (first on line 2)"),
    ]
    assert [r.id for b in batches for r in b.rows] == ["a", "b", "c"]


def test_a_failed_row_still_owns_its_id(tmp_path):
    text = "ID,URL\nx,ftp://bad\nx,http://x.example/good\n"
    rows, errors = read_all(opened(tmp_path, text))
    assert rows == [] and lines_and_codes(errors) == [(2, "bad_scheme"), (3, "duplicate_id")]


def test_batches_are_bounded_by_decoded_bytes(tmp_path):
    big = base64.b64encode(b"x" * 3000).decode()
    text = "ID,image_bytes,action\n" + "".join(f"{i},{big},upload\n" for i in range(10))
    batches = list(opened(tmp_path, text, batch_bytes=7000).batches())
    assert [len(b.rows) for b in batches] == [3, 3, 3, 1]


def test_a_large_image_cell_passes_the_csv_modules_own_limit(tmp_path):
    big = base64.b64encode(b"y" * 300_000).decode()
    rows, errors = read_all(opened(tmp_path, f"ID,image_bytes,action\nbig,{big},upload\n"))
    assert errors == [] and len(rows[0].data) == 300_000


def test_an_unclosed_quote_is_one_error_not_a_crash(tmp_path):
    text = 'ID,URL\na,"http://x.example/a\nb,http://x.example/b\n'
    rows, errors = read_all(opened(tmp_path, text))
    assert rows == [] and lines_and_codes(errors) == [(2, "bad_url")]
    assert len(errors[0].reason) < 300


def test_a_file_object_is_read_and_left_open(tmp_path):
    source = io.BytesIO(b"ID,URL\na,http://x.example/a\n")
    rows, _ = read_all(open_csv_import(source))
    assert [r.id for r in rows] == ["a"] and not source.closed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "the CSV is empty", id="empty"),
        pytest.param(b"\n\n", "the CSV is empty", id="blank"),
        pytest.param(
            b"url,name\nhttp://x.example/a,a\n", "no ID column (its columns: url, name)", id="no-id"
        ),
        pytest.param(b"ID,name\na,a\n", "neither a URL nor an image_bytes column", id="no-content"),
        pytest.param(b"ID,URL,url\n", "names the column 'url' twice", id="twice"),
        pytest.param(
            b"ID,URL\na,http://x.example/a\nb,http://x.example/caf\xe9\n",
            "not UTF-8: byte 0xe9 on line 3",
            id="latin-1",
        ),
        pytest.param("ID,URL\n".encode("utf-16"), "UTF-16", id="utf-16"),
        pytest.param(b"ID,URL\na,http://x.example/\xe2\x82", "ends inside a character", id="cut"),
    ],
)
def test_a_broken_file_is_refused_before_any_row(tmp_path, data, message):
    with pytest.raises(CsvRefused) as caught:
        opened(tmp_path, data)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.permanent


def test_an_undecodable_byte_late_in_a_big_file_refuses_it_all(tmp_path):
    good = "".join(f"{i},http://x.example/{i}\n" for i in range(100_000)).encode()
    with pytest.raises(CsvRefused, match="on line 100002"):
        opened(tmp_path, b"ID,URL\n" + good + b"z,http://x.example/\xff\n")


def test_seen_ids_answer_the_first_line():
    seen = SeenIds()
    assert list(seen.check(["a", "b", "a", ""], [2, 3, 4, 5])) == [-1, -1, 2, -1]
    assert list(seen.check(["b", "c", "", "c"], [6, 7, 8, 9])) == [3, -1, -1, 7]
    assert len(seen) == 3


@pytest.mark.parametrize("seed", range(20))
def test_line_numbers_hold_on_random_files(tmp_path, seed):
    """Random records (quoted LF, CRLF and CR newlines in values, blank lines, CRLF or LF
    endings, good and bad rows) written with their start line noted as they are written:
    every row and error must carry the line its record starts on."""
    import random

    rng = random.Random(seed)
    ending = rng.choice(["\n", "\r\n"])
    out, line, expected = [f"ID,URL,item_description{ending}"], 2, {}
    for index in range(300):
        if rng.random() < 0.05:  # a blank line
            out.append(ending)
            line += 1
            continue
        breaks = rng.choice([0, 0, 0, 1, 2])
        pieces = [rng.choice(["\n", "\r\n", "\r"]) for _ in range(breaks)]
        description = '"' + "x".join(pieces) + 'end ""q"""' if breaks else "plain"
        url = rng.choice(["http://x.example/a", "ftp://x.example/a", "not a url"])
        row_id = f"id{index}"
        out.append(f"{row_id},{url},{description}{ending}")
        expected[row_id] = line
        line += 1 + breaks
    rows, errors = read_all(opened(tmp_path, "".join(out), batch_rows=rng.randint(1, 50)))
    assert {r.id: r.line for r in rows} | {e.id: e.line for e in errors} == expected


def test_a_field_above_the_limit_ends_the_file_with_one_error(tmp_path, monkeypatch):
    import csv

    from tributary.ingest import csv_rows

    before = csv.field_size_limit(100)
    monkeypatch.setattr(csv_rows, "MAX_FIELD_CHARS", 100)
    try:
        text = (
            f"ID,URL\na,http://x.example/a\nb,http://x.example/{'x' * 200}\nc,http://x.example/c\n"
        )
        csv_import = opened(tmp_path, text)
        rows, errors = read_all(csv_import)
    finally:
        csv.field_size_limit(before)
    assert [r.id for r in rows] == ["a"]
    assert lines_and_codes(errors) == [(3, "broken_csv")]
    assert "the rest of the file was not read" in errors[0].reason
    assert (csv_import.rows, csv_import.valid, csv_import.failed) == (2, 1, 1)
