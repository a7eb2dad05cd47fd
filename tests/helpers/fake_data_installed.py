"""Importing this module puts the fake data modules of `tests.helpers.llm` in sys.modules (for
processes a test cannot monkeypatch: Ray Train workers, subprocesses)."""
from tests.helpers.llm import install_fake_data

SIZES = {"train": 32, "valid": 16, "test": 16}
install_fake_data(SIZES)
