"""scripts/check_layers.py: the repository keeps its floors, and the check sees each kind of breach."""
from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("check_layers", REPO / "scripts" / "check_layers.py")
check_layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_layers)


def test_the_repository_keeps_its_layers():
    assert check_layers.check(REPO) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_each_kind_of_breach_is_reported(tmp_path):
    root = _tree(tmp_path, {
        "harness/__init__.py": "",
        "harness/core/__init__.py": "",
        "harness/core/trial.py": "def f():\n    import models.tallrec\n",        # contract -> plugin
        "harness/run/__init__.py": "",
        "harness/run/runner.py": "from harness.cli import main\n",               # imports the CLI
        "harness/cli/__init__.py": "",
        "harness/grid/__init__.py": "from harness.tune import phases\n",         # sibling floors
        "harness/tune/__init__.py": "",
        "harness/tune/phases.py": "",
        "harness/nopkg/thing.py": "",                                            # no __init__.py
        "data/__init__.py": "",
        "data/alpaca.py": "from models import prompts\n",                       # data -> models
        "models/__init__.py": "",
        "models/prompts.py": "import data.alpaca\nimport harness.run.runner\n",  # cycle; upper floor
        "models/testing.py": "from tests.helpers import llm\n",                  # test code shipped
        "baselines/__init__.py": "",
        "baselines/big.py": "x = 1\n" * 401,
        "tests/unit/stray/__init__.py": "",
    })
    problems = "\n".join(check_layers.check(root))
    assert "harness.core imports 'models.tallrec'" in problems
    assert "nothing imports the CLI" in problems
    assert "harness.grid imports 'harness.tune.phases'" in problems
    assert "data imports 'models.prompts'" in problems
    assert "models imports 'harness.run.runner'" in problems
    assert "import cycle between packages: data <-> models" in problems
    assert "import cycle between modules: data.alpaca <-> models.prompts" in problems
    assert "imports test code 'tests.helpers'" in problems
    assert "baselines/big.py: 401 lines" in problems
    assert "tests/unit/stray: mirrors no package" in problems
    assert "harness/nopkg: no __init__.py" in problems
    assert check_layers.main([str(root)]) == 1
