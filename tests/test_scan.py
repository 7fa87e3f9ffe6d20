"""The CSV record scan: the numpy byte scan gives the csv module's records, line for line."""
import gzip
import random

import pandas as pd
import pytest

from cxlib.ingest import scan
from cxlib.ingest.contract import IngestError

from conftest import shared_file

AWKWARD = {
    "plain": "a,b,c\n1,2,3\n4,5,6\n",
    "no_final_line_end": "a,b,c\n1,2,3\n4,5,6",
    "windows_line_ends": "a,b,c\r\n1,2,3\r\n\r\n4,5\r\n",
    "blank_and_short_and_long": "a,b,c\n\n1,2,3\n   \n,,\n7,8,9,10\n\t\n",
    "quoted_delimiters_and_line_breaks": 'a,b,c\n1,"x,y",3\n2,"multi\nline\n",4\n5,6,7\n"q""uote",1,2\n',
    "quote_inside_a_field": 'a,b,c\n1,ab"c,3\n2,3\n',
    "quote_never_closed": 'a,b,c\n1,"abc,3\n2,3,4\n',
    "quoted_header": '"a","b,c",d\n1,2,3\n',
    "header_over_two_lines": '"a\nx",b\n1,2\n',
    "byte_order_mark": "\ufeffa,b\n1,2\n",
    "non_ascii": "a,b\nCafé,2\nx\u200by,3\n日本,4,5\n",
    "header_only": "a,b,c\n",
    "blank_first_line": "\na,b\n1,2\n",
    "quoted_blank": 'a,b\n""\n1,2\n',
    "nul_byte": "a,b\n1,\x002\n",
    "text_after_closing_quote": 'a,b\n"ab"c,d\n',
    "long_malformed_line": "a,b\n" + "x" * 1000 + ",2,3\n",
}


def _both(path, encoding="utf-8", delimiter=","):
    return scan.scan_csv_module(path, encoding, delimiter), scan.scan_csv_bytes(path, encoding, delimiter)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
@pytest.mark.parametrize("name", sorted(AWKWARD))
def test_byte_scan_gives_the_csv_modules_records(tmp_path, name, encoding):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(AWKWARD[name].encode("utf-8"))
    expected, fast = _both(path, encoding)
    assert fast is not None, "the byte scan should read this file itself"
    pd.testing.assert_frame_equal(fast, expected)


def test_byte_scan_on_random_files_across_block_boundaries(tmp_path, monkeypatch):
    """Random mixes of delimiters, quotes, line breaks and blank lines, with blocks of 48 bytes so
    that records and quoted line breaks cross block boundaries."""
    monkeypatch.setattr(scan, "BLOCK_BYTES", 48)
    rng = random.Random(7)
    pieces = ["a", "b", ",", ",", '"', "\n", "\n", "\r\n", " ", "é", '""', ";", "xxxxxxxx"]
    read_fast = 0
    for _ in range(1500):
        head = rng.choice(["h1,h2,h3\n", '"h1","h,2"\n', "h\n"])
        path = tmp_path / "random.csv"
        path.write_bytes((head + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 80)))).encode())
        try:
            expected = scan.scan_csv_module(path, "utf-8", ",")
        except Exception as err:     # the csv module refuses it: so must the byte scan
            with pytest.raises(type(err)):
                scan.scan_csv_bytes(path, "utf-8", ",")
            continue
        fast = scan.scan_csv_bytes(path, "utf-8", ",")
        if fast is not None:
            read_fast += 1
            pd.testing.assert_frame_equal(fast, expected)
    assert read_fast > 1000


def test_byte_scan_leaves_to_the_csv_module_what_it_cannot_judge(tmp_path):
    bare_cr = tmp_path / "old_mac.csv"          # the csv module ends a line at a lone carriage return
    bare_cr.write_bytes(b"a,b\r1,2\r3,4\r")
    gz = tmp_path / "events.csv.gz"
    gz.write_bytes(gzip.compress(b"a,b\n1,2\n3,4\n"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a;b\nCaf\xe9;2\nx;3\n".encode("latin-1"))
    assert scan.scan_csv_bytes(bare_cr, "utf-8", ",") is None
    assert scan.scan_csv_bytes(gz, "utf-8", ",") is None
    assert scan.scan_csv_bytes(latin, "latin-1", ";") is None
    for path, enc, sep in ((bare_cr, "utf-8", ","), (gz, "utf-8", ","), (latin, "latin-1", ";")):
        assert len(scan.scan_csv_records(path, enc, sep)) == 2


def test_byte_scan_refuses_what_the_csv_module_refuses(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_bytes(b"a,a\n1,2\n")
    with pytest.raises(IngestError, match="two columns named 'a'"):
        scan.scan_csv_bytes(dup, "utf-8", ",")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(UnicodeDecodeError):
        scan.scan_csv_bytes(bad, "utf-8", ",")


@pytest.mark.parametrize("parts,encoding,delimiter", [
    (("call_center", "call_center.csv"), "utf-8-sig", ","),
    (("telco_churn", "Telco-Customer-Churn.csv"), "utf-8", ","),
])
def test_byte_scan_on_real_exports(parts, encoding, delimiter):
    path = shared_file(*parts)
    expected, fast = _both(path, encoding, delimiter)
    assert fast is not None and len(fast) > 1000
    pd.testing.assert_frame_equal(fast, expected)


def test_byte_scan_on_the_demo_event_log_with_planted_dirt(small_demo, tmp_path):
    """The demo's event export holds quoted fields (a delimiter inside a comment or a reason)."""
    root, _ = small_demo
    plain = tmp_path / "contact_history.csv"
    plain.write_bytes(gzip.decompress((root / "demo" / "raw" / "contact_history.csv.gz").read_bytes()))
    expected, fast = _both(plain)
    assert fast is not None
    assert plain.read_bytes().count(b'"') > 10          # the csv module's part of the scan is exercised
    pd.testing.assert_frame_equal(fast, expected)
