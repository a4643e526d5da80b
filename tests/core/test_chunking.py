"""Tests for sqlitevec_store.chunking."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlitevec_store.chunking import Chunk, split_markdown

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"


def test_nested_headings_build_heading_path() -> None:
    text = (
        "# Guide\n\nIntro to the guide.\n\n"
        "## Install\n\nInstall steps.\n\n"
        "### On Linux\n\nUse the package.\n\n"
        "## Configure\n\nEdit the file.\n\n"
        "# Appendix\n\nExtra notes.\n"
    )
    chunks = split_markdown(text)
    assert [c.metadata["heading_path"] for c in chunks] == [
        ["Guide"],
        ["Guide", "Install"],
        ["Guide", "Install", "On Linux"],
        ["Guide", "Configure"],
        ["Appendix"],
    ]
    assert [c.metadata["level"] for c in chunks] == [1, 2, 3, 2, 1]
    assert [c.metadata["heading"] for c in chunks] == [
        "Guide",
        "Install",
        "On Linux",
        "Configure",
        "Appendix",
    ]
    assert chunks[2].text == "Guide > Install > On Linux\n\nUse the package."
    assert chunks[3].text == "Guide > Configure\n\nEdit the file."


def test_skipped_level_pops_to_correct_parent() -> None:
    text = "# A\n\na\n\n### C\n\nc\n\n## B\n\nb\n"
    chunks = split_markdown(text)
    assert [c.metadata["heading_path"] for c in chunks] == [
        ["A"],
        ["A", "C"],
        ["A", "B"],
    ]


def test_hashes_inside_fenced_code_are_not_headings() -> None:
    text = (
        "# Script\n\n"
        "Run this:\n\n"
        "```bash\n"
        "# install the package\n"
        "apt install harbor\n"
        "```\n\n"
        "~~~\n"
        "## not a heading either\n"
        "```\n"
        "# still inside the tilde fence\n"
        "~~~\n\n"
        "## After\n\n"
        "Done.\n"
    )
    chunks = split_markdown(text)
    assert [c.metadata["heading_path"] for c in chunks] == [
        ["Script"],
        ["Script", "After"],
    ]
    body = chunks[0].text
    assert "# install the package" in body
    assert "## not a heading either" in body
    assert "# still inside the tilde fence" in body
    assert chunks[1].text == "Script > After\n\nDone."


def test_non_headings_are_body_text() -> None:
    text = "# Title\n\n#hashtag\n####### seven hashes\n    # indented code\n"
    chunks = split_markdown(text)
    assert len(chunks) == 1
    assert chunks[0].text == ("Title\n\n#hashtag\n####### seven hashes\n    # indented code")


def test_preamble_becomes_chunk_without_heading() -> None:
    text = "Some intro before any heading.\n\n# First\n\nBody.\n"
    chunks = split_markdown(text, source="doc.md")
    assert chunks[0].text == "Some intro before any heading."
    assert chunks[0].metadata == {
        "source": "doc.md",
        "heading_path": [],
        "heading": "",
        "level": 0,
        "chunk_index": 0,
    }
    assert chunks[1].metadata["heading_path"] == ["First"]


def test_blank_preamble_is_skipped() -> None:
    chunks = split_markdown("\n   \n\n# First\n\nBody.\n")
    assert len(chunks) == 1
    assert chunks[0].metadata["heading_path"] == ["First"]
    assert chunks[0].metadata["chunk_index"] == 0


def test_empty_sections_are_skipped_but_stay_in_path() -> None:
    text = "# Manual\n\n## Setup\n   \n### Step one\n\nDo it.\n\n## Empty\n"
    chunks = split_markdown(text)
    assert len(chunks) == 1
    assert chunks[0].metadata["heading_path"] == ["Manual", "Setup", "Step one"]
    assert chunks[0].metadata["chunk_index"] == 0
    assert chunks[0].text == "Manual > Setup > Step one\n\nDo it."


def test_empty_document() -> None:
    assert split_markdown("") == []
    assert split_markdown("# Only a heading\n## And another\n") == []


def test_long_section_split_on_paragraphs() -> None:
    paragraphs = [f"Paragraph {i} " + "lorem ipsum " * 10 for i in range(6)]
    paragraphs = [p.strip() for p in paragraphs]
    text = "# Long\n\n## Part\n\n" + "\n\n".join(paragraphs) + "\n\n## Next\n\nx\n"
    max_chars = 300
    chunks = split_markdown(text, max_chars=max_chars)

    long_chunks = [c for c in chunks if c.metadata["heading"] == "Part"]
    assert len(long_chunks) > 1
    assert [c.metadata["part"] for c in long_chunks] == list(range(len(long_chunks)))
    for chunk in long_chunks:
        assert len(chunk.text) <= max_chars
        assert chunk.text.startswith("Long > Part\n\n")
        assert chunk.metadata["heading_path"] == ["Long", "Part"]
        assert chunk.metadata["level"] == 2
    # Every paragraph survives intact in exactly one chunk, in order.
    bodies = [c.text.removeprefix("Long > Part\n\n") for c in long_chunks]
    assert "\n\n".join(bodies) == "\n\n".join(paragraphs)

    assert [c.metadata["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert "part" not in chunks[-1].metadata
    assert chunks[-1].text == "Long > Next\n\nx"


def test_single_long_paragraph_is_split_hard() -> None:
    words = " ".join(f"w{i:03d}" for i in range(200))  # 999 characters
    chunks = split_markdown("# H\n\n" + words, max_chars=100)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(chunk.text) <= 100
        assert chunk.text.startswith("H\n\n")
    rejoined = " ".join(c.text.removeprefix("H\n\n") for c in chunks)
    assert rejoined == words

    no_spaces = "x" * 250
    chunks = split_markdown("# H\n\n" + no_spaces, max_chars=100)
    assert [len(c.text) for c in chunks] == [100, 100, 59]
    assert "".join(c.text.removeprefix("H\n\n") for c in chunks) == no_spaces


def test_fenced_code_with_blank_lines_is_not_split_inside() -> None:
    code = "```\nline one\n\nline two\n```"
    text = "# C\n\n" + "a" * 40 + "\n\n" + code + "\n\n" + "b" * 40
    chunks = split_markdown(text, max_chars=50)
    assert any(c.text == "C\n\n" + code for c in chunks)


def test_short_section_has_no_part() -> None:
    chunks = split_markdown("# A\n\nshort\n", max_chars=2000)
    assert "part" not in chunks[0].metadata


def test_crlf_line_endings() -> None:
    text = "# Title\r\n\r\nFirst line.\r\nSecond line.\r\n\r\n## Sub\r\n\r\nMore.\r\n"
    chunks = split_markdown(text)
    assert [c.text for c in chunks] == [
        "Title\n\nFirst line.\nSecond line.",
        "Title > Sub\n\nMore.",
    ]
    assert all("\r" not in c.text for c in chunks)
    # Old Mac-style bare CR line endings are normalized too.
    assert [c.text for c in split_markdown(text.replace("\r\n", "\r"))] == [
        "Title\n\nFirst line.\nSecond line.",
        "Title > Sub\n\nMore.",
    ]


def test_closing_hashes_and_whitespace_are_stripped() -> None:
    text = (
        "#   Spaced Title   ##   \n\nbody\n\n## C# Tips ##\n\nsharp\n\n### Issue #42\n\nnumbered\n\n### foo#\n\nkept\n"
    )
    chunks = split_markdown(text)
    assert [c.metadata["heading"] for c in chunks] == [
        "Spaced Title",
        "C# Tips",
        "Issue #42",
        "foo#",
    ]


def test_trailing_whitespace_is_stripped() -> None:
    chunks = split_markdown("# T  \n\nline with spaces   \nnext\t\n\n\n")
    assert chunks[0].text == "T\n\nline with spaces\nnext"


def test_metadata_content() -> None:
    text = "Preamble.\n\n# Alpha\n\nA.\n\n## Beta\n\nB.\n"
    chunks = split_markdown(text, source="notes/guide.md")
    assert all(isinstance(c, Chunk) for c in chunks)
    assert [c.metadata for c in chunks] == [
        {
            "source": "notes/guide.md",
            "heading_path": [],
            "heading": "",
            "level": 0,
            "chunk_index": 0,
        },
        {
            "source": "notes/guide.md",
            "heading_path": ["Alpha"],
            "heading": "Alpha",
            "level": 1,
            "chunk_index": 1,
        },
        {
            "source": "notes/guide.md",
            "heading_path": ["Alpha", "Beta"],
            "heading": "Beta",
            "level": 2,
            "chunk_index": 2,
        },
    ]


def test_source_omitted_when_not_given() -> None:
    chunks = split_markdown("# A\n\nbody\n")
    assert "source" not in chunks[0].metadata


def test_heading_path_lists_are_independent() -> None:
    chunks = split_markdown("# A\n\n" + "p " * 50 + "\n\n" + "q " * 50, max_chars=80)
    assert len(chunks) >= 2
    chunks[0].metadata["heading_path"].append("mutated")
    assert chunks[1].metadata["heading_path"] == ["A"]


def test_chunk_is_frozen() -> None:
    chunk = split_markdown("# A\n\nbody\n")[0]
    with pytest.raises(AttributeError):
        chunk.text = "changed"  # type: ignore[misc]


def test_invalid_max_chars() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        split_markdown("# A\n\nbody", max_chars=0)


def test_example_docs_match_questions() -> None:
    """Every expected heading path in examples/questions.txt exists."""
    questions = EXAMPLES_DIR / "questions.txt"
    docs_dir = EXAMPLES_DIR / "docs"
    if not questions.is_file() or not docs_dir.is_dir():
        pytest.skip("example docs not present")
    paths = {
        " > ".join(c.metadata["heading_path"])
        for doc in sorted(docs_dir.glob("*.md"))
        for c in split_markdown(doc.read_text(encoding="utf-8"), source=doc.name)
    }
    lines = [ln for ln in questions.read_text(encoding="utf-8").splitlines() if ln]
    assert len(lines) == 6
    for line in lines:
        question, expected = line.split("\t")
        assert question.endswith("?")
        assert expected in paths, expected
