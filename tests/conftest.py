"""Shared fixtures: where the raw datasets are, one data cache for the whole session, and one tiny
random Llama folder for the LLM tests."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    """$HARNESS_RAW_DIR, else ../shared/datasets next to the repository (what CI provides)."""
    return Path(os.environ.get("HARNESS_RAW_DIR") or REPO / ".." / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """A data cache shared by the session's tests, so every table is built once."""
    return tmp_path_factory.mktemp("data-cache")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep every test (and the CLIs they start) out of the user's ~/.cache."""
    if "HARNESS_CACHE_DIR" in os.environ:
        yield
        return
    os.environ["HARNESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("harness-cache"))
    yield
    os.environ.pop("HARNESS_CACHE_DIR", None)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A tiny random-init Llama saved as an HF folder (tests/helpers/llm.py), built once."""
    from tests.helpers import llm

    return llm.tiny_llama_dir(tmp_path_factory.getbasetemp() / "models")
