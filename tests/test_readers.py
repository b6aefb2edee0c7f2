"""Every reader on small fixture files, and each reader's malformed-input errors."""

import subprocess
import sys

import pytest

from srlaw.data.readers import FORMATS, InputFormatError, read_interactions


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = {
    "sasrec": ("data.txt", "1 10\n1 11\n2 10\n"),
    "s3rec": ("data.txt", "1 10 11\n2 10\n"),
    "movielens-dat": ("ratings.dat", "1::10::5::100\n1::11::3::90\n2::10::4::50\n"),
    "movielens-100k": ("u.data", "1\t10\t5\t100\n1\t11\t3\t90\n2\t10\t4\t50\n"),
    "movielens-csv": ("ratings.csv", "userId,movieId,rating,timestamp\n1,10,5.0,100\n1,11,3.0,90\n2,10,4.0,50\n"),
    "recbole": ("x.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t5\t100\n1\t11\t3\t90\n2\t10\t4\t50\n"),
}


@pytest.mark.parametrize("fmt", sorted(GOOD))
def test_reader_reads_users_items(tmp_path, fmt):
    name, text = GOOD[fmt]
    raw = read_interactions(write(tmp_path, name, text), fmt)
    assert sorted(zip(raw.user.tolist(), raw.item.tolist())) == [(1, 10), (1, 11), (2, 10)]
    has_time = fmt not in ("sasrec", "s3rec")
    assert (raw.timestamp is not None) == has_time
    if has_time:
        assert sorted(raw.timestamp.tolist()) == [50.0, 90.0, 100.0]


def test_generic_csv_with_mapping(tmp_path):
    p = write(tmp_path, "log.tsv", "ts\tuid\tiid\n5\t7\t70\n3\t7\t71\n")
    raw = read_interactions(p, "csv", columns={"user": "uid", "item": "iid", "timestamp": "ts"}, delimiter="\t")
    assert raw.user.tolist() == [7, 7] and raw.item.tolist() == [70, 71] and raw.timestamp.tolist() == [5, 3]


BAD = [
    ("sasrec", "1 10\n1 x\n", 2, "not an integer"),
    ("sasrec", "1 10\n1 11 12\n", 2, "expected 2 columns"),
    ("s3rec", "1 10 11\n2\n", 2, "at least one item"),
    ("s3rec", "1 10 1.5\n", 1, "not an integer"),
    ("movielens-dat", "1::10::5::100\n1::11::5\n", 2, "expected 4 columns"),
    ("movielens-dat", "1::10::5::abc\n", 1, "not a finite number"),
    ("movielens-100k", "1\t10\t5\t100\n1\tfoo\t5\t100\n", 2, "not an integer"),
    ("movielens-100k", "1\t10\t5\n", 1, "expected 4 columns"),
    ("movielens-csv", "userId,movieId,rating,timestamp\n1,10,5,100\n1,10,5\n", 3, "expected 4 columns"),
    ("movielens-csv", "userId,itemId,rating,timestamp\n1,10,5,100\n", 1, "missing column 'movieId'"),
    ("movielens-csv", "userId,movieId,rating,timestamp\n1.5,10,5,100\n", 2, "not an integer"),
    ("recbole", "user_id:token\titem_id:token\n1\t10\n1\tz\n", 3, "not an integer"),
    ("recbole", "user:token\titem_id:token\n1\t10\n", 1, "missing column 'user_id'"),
    ("csv", "user,item\n1,10\n1,10,3\n", 3, "expected 2 columns"),
]


# hardening: values a careless or hostile file must not slip through
HOSTILE = [  # (format, text, line, problem)
    ("sasrec", "1 10\n1 9223372036854775808\n", 2, "outside int64"),
    ("s3rec", "99999999999999999999 1 2\n", 1, "outside int64"),
    ("sasrec", "1 10\n-1 11\n", 2, "negative; ids must be >= 0"),
    ("movielens-100k", "1\t-3\t5\t100\n", 1, "negative"),
    ("sasrec", "1 10\n1 \uff11\uff12\n", 2, "not an integer id (ASCII digits only)"),
    ("movielens-csv", "userId,movieId,rating,timestamp\n1,1_0,5,100\n", 2, "not an integer id"),
    ("movielens-dat", "1::10::5::nan\n", 1, "timestamp 'nan' is not a finite number"),
    ("movielens-100k", "1\t10\t5\tinf\n", 1, "timestamp 'inf' is not a finite number"),
    ("recbole", "user_id:token\titem_id:token\ttimestamp:float\n1\t2\t-Infinity\n", 2, "not a finite number"),
    ("csv", "user,item\n1,99999999999999999999\n", 2, "outside int64"),
    ("movielens-100k", "1\t10\t5\t1_000\n", 1, "not a finite number"),
]


@pytest.mark.parametrize("fmt,text,line,problem", BAD + HOSTILE)
def test_malformed_input_names_file_line_problem(tmp_path, fmt, text, line, problem):
    p = write(tmp_path, "bad.txt", text)
    with pytest.raises(InputFormatError) as e:
        read_interactions(p, fmt)
    assert e.value.line == line
    assert str(p) in str(e.value) and f":{line}:" in str(e.value) and problem in str(e.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file_is_refused(tmp_path, fmt):
    with pytest.raises(InputFormatError, match="empty"):
        read_interactions(write(tmp_path, "empty.txt", ""), fmt)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(InputFormatError, match="unknown format 'parquet'"):
        read_interactions(write(tmp_path, "a.txt", "1 2\n"), "parquet")
    with pytest.raises(InputFormatError, match="no such file"):
        read_interactions(tmp_path / "nope.txt", "sasrec")


def test_cli_malformed_input_one_line_nonzero(tmp_path):
    p = write(tmp_path, "bad.txt", "1 10\n1 10\n1 oops\n")
    proc = subprocess.run([sys.executable, "-m", "srlaw.cli", "entropy", "--input", str(p), "--format", "sasrec"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{p}:3:" in lines[0] and "not an integer" in lines[0]


# ---- hardening: what a careless or hostile file must not slip through

def test_bom_and_crlf_accepted_by_every_format(tmp_path):
    for fmt, (name, text) in sorted(GOOD.items()):
        for variant, data in (("bom", "\ufeff" + text), ("crlf", text.replace("\n", "\r\n")),
                              ("bom+crlf", "\ufeff" + text.replace("\n", "\r\n"))):
            p = tmp_path / f"{fmt}-{variant}-{name}"
            p.write_bytes(data.encode("utf-8"))
            raw = read_interactions(p, fmt)
            assert sorted(zip(raw.user.tolist(), raw.item.tolist())) == [(1, 10), (1, 11), (2, 10)], (fmt, variant)




@pytest.mark.parametrize("fmt", sorted(GOOD))
def test_non_utf8_file_names_file_and_line(tmp_path, fmt):
    name, text = GOOD[fmt]
    lines = text.split("\n")
    p = tmp_path / name
    p.write_bytes(("\n".join(lines[:2]) + "\n").encode() + b"\xff\xfe 1\n")
    with pytest.raises(InputFormatError, match=r":3: not UTF-8 text \(byte 0xff\)"):
        read_interactions(p, fmt)


def test_unreadable_file_is_one_line(tmp_path, monkeypatch):
    p = write(tmp_path, "locked.txt", "1 10\n")
    real_open = open

    def deny(file, *a, **k):
        if str(file) == str(p):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(InputFormatError, match=r"locked.txt: cannot read: Permission denied"):
        read_interactions(p, "sasrec")
