"""Smoke tests of examples/langchain_rag.py (real model: marked ``model``)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableLambda

from langchain_sqlitevec import SentenceTransformerEmbeddings
from sqlitevec_store import UncheckedModelWarning
from tests.langchain.conftest import FakeEmbeddings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "langchain_rag.py"
QUESTIONS = ROOT / "examples" / "questions.txt"

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("langchain_rag_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_prints_the_assembled_prompt_without_a_chat_model() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SQLITEVEC_RAG_CHAT_MODEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "How do I restore from a backup?"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "No chat model configured" in result.stdout
    assert "=== system ===" in result.stdout
    assert "Backup and Restore > Restoring a backup" in result.stdout
    assert result.stdout.rstrip().endswith("Question: How do I restore from a backup?")


@pytest.fixture(scope="module")
def index_db(example: Any, minilm: SentenceTransformerEmbeddings, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sample documents indexed once, in a file the tests reopen."""
    path = str(tmp_path_factory.mktemp("rag") / "rag.db")
    with example.open_store(path, minilm) as store:
        assert store.collection.count() > 0
    return path


def test_chat_model_step_is_pluggable(
    example: Any, index_db: str, minilm: SentenceTransformerEmbeddings, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []

    def fake_model(prompt: PromptValue) -> AIMessage:
        seen.append(prompt.to_string())
        return AIMessage(content="Stop the server and run `harborctl backup restore`.")

    argv = ["--db", index_db, "-k", "2", "How do I restore from a backup?"]
    answer = example.main(argv, model=RunnableLambda(fake_model), embeddings=minilm)
    assert answer == "Stop the server and run `harborctl backup restore`."
    assert "Restoring a backup" in seen[0] and "Question: How do I restore from a backup?" in seen[0]
    assert answer in capsys.readouterr().out


def test_reopening_the_index_does_not_re_embed(example: Any, index_db: str) -> None:
    counting = FakeEmbeddings()
    with pytest.warns(UncheckedModelWarning), example.open_store(index_db, counting) as store:
        assert store.collection.count() > 0
    assert counting.fake.document_calls == 0


def test_source_filter_and_mmr(example: Any, index_db: str, minilm: SentenceTransformerEmbeddings) -> None:
    argv = ["--db", index_db, "--source", "troubleshooting.md", "--search-type", "mmr", "What does HN-4012 mean?"]
    answer = example.main(argv, embeddings=minilm)
    assert "HN-4012: Sync token expired" in answer
    assert "(configuration.md)" not in answer


def _questions() -> list[Any]:
    cases = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        question, expected = line.split("\t")
        marks = (
            [
                pytest.mark.xfail(
                    reason="all-MiniLM-L6-v2 ranks this section 8th (measured); a model limit", strict=False
                )
            ]
            if "Docker" in question
            else []
        )
        cases.append(pytest.param(question, expected, marks=marks, id=question[:40]))
    return cases


@pytest.mark.parametrize(("question", "expected"), _questions())
def test_sample_questions_retrieve_their_section(
    example: Any, index_db: str, minilm: SentenceTransformerEmbeddings, question: str, expected: str
) -> None:
    with example.open_store(index_db, minilm) as store:
        docs = store.as_retriever(search_kwargs={"k": 3}).invoke(question)
    assert expected in [" > ".join(d.metadata["heading_path"]) for d in docs]
