"""Importing this module puts the fake data modules of `tests.helpers.llm` (sizes
`WORKER_SIZES`) in sys.modules: for processes a test cannot monkeypatch (Ray Train workers,
subprocesses). Never import it in the test process itself."""
from tests.helpers.llm import WORKER_SIZES, install_fake_data

install_fake_data(WORKER_SIZES)
