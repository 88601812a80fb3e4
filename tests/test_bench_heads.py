"""bench/heads.py: the three ways from a browser's head to HTTPHeaders agree."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import heads  # noqa: E402


def test_the_browser_head_is_the_size_browsers_send() -> None:
    assert 500 <= len(heads.BROWSER_HEAD) <= 600


def test_every_parser_gives_the_same_headers() -> None:
    reference = sorted(heads.stock().get_all())
    assert len(reference) == 12
    assert sorted(heads.h1alt().get_all()) == reference
    llhttp = heads._httptools()
    assert llhttp is not None  # httptools is a test dependency
    assert sorted(llhttp().get_all()) == reference


def test_main_prints_one_line_per_parser(capsys) -> None:  # type: ignore[no-untyped-def]
    assert heads.main(["--number", "10", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "%d-byte head, 12 fields" % len(heads.BROWSER_HEAD)
    assert [line.split()[0] for line in lines[1:]] == ["h1alt", "stock", "httptools"]
