"""YAML features and hostile values: merge keys work, alias bombs and out-of-range integers are
refused with one line and exit 2 before anything is written."""
import time

import pytest

from harness.cli import main
from harness.grid import expand, load_grid

BASE = "grid:\n  method: [random, item-popularity]\n  k: [16]\n  train_mix: [movie]\n"


def _bomb(width: int, depth: int) -> str:
    lines = ["a0: &a0 [x]"]
    for i in range(1, depth + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines)


def _run(tmp_path, text, capsys):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    db = tmp_path / "out" / "results.duckdb"
    started = time.perf_counter()
    rc = main(["run", str(path), "--db", str(db), "--dry-run"])
    took = time.perf_counter() - started
    err = capsys.readouterr().err.strip()
    assert not (tmp_path / "out").exists()           # nothing written
    return rc, err, took


def test_merge_keys_are_supported(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(BASE + """overrides:
  item-popularity:
    params: &common {smoothing: 2, window: 5}
  random:
    params:
      <<: *common
      window: 9
""")
    grid = load_grid(path)
    assert grid.overrides["random"].params == {"smoothing": 2, "window": 9}
    assert grid.overrides["item-popularity"].params == {"smoothing": 2, "window": 5}
    assert len(expand(grid)) == 2


@pytest.mark.parametrize("text,expected", [
    (BASE + "overrides:\n  random:\n    params: &p {a: 1}\n  item-popularity:\n    params:\n"
            "      <<: *p\n      <<: *p\n", "duplicate key '<<'"),
    (BASE + "overrides:\n  random:\n    params:\n      <<: 5\n",
     "expected a mapping or list of mappings for merging"),
    (BASE + "grid:\n  method: [random]\n", "duplicate key 'grid'"),
    (BASE + "x: &x [*x]\n", "recursive alias"),
])
def test_bad_merges_and_duplicates_are_one_line(tmp_path, capsys, text, expected):
    rc, err, _ = _run(tmp_path, text, capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and expected in err, err


@pytest.mark.parametrize("depth", [8, 9, 30])
def test_alias_bomb_is_refused_at_once(tmp_path, capsys, depth):
    """9^8 took 92 s and 1.6 GB before; 9^9 aborted pydantic-core."""
    body = "\n".join("      " + ln for ln in _bomb(9, depth).splitlines())
    rc, err, took = _run(tmp_path, BASE + "overrides:\n  random:\n    params:\n" + body + "\n",
                         capsys)
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert "aliases expand to more than 20000 values" in err and took < 5


def test_a_few_aliases_are_fine(tmp_path, capsys):
    body = "\n".join("      " + ln for ln in _bomb(3, 4).splitlines())   # 121 values
    rc, err, _ = _run(tmp_path, BASE + "overrides:\n  random:\n    params:\n" + body + "\n", capsys)
    assert rc == 0, err


@pytest.mark.parametrize("text,expected", [
    (BASE.replace("k: [16]", "k: [16]\n  seed: [2147483648]"),
     "grid.seed[0]: 2147483648 is not allowed: seeds are integers in 0..2147483647"),
    (BASE.replace("k: [16]", "k: [16]\n  seed: [0, -1]"), "grid.seed[1]: -1 is not allowed"),
    (BASE + "overrides:\n  random:\n    params: {n: 99999999999999999999}\n",
     "overrides.random.params.n: 99999999999999999999 is out of range"),
    (BASE + "training:\n  epochs: 9223372036854775808\n", "training.epochs: 9223372036854775808 is out"),
])
def test_integers_beyond_what_the_store_and_libraries_take(tmp_path, capsys, text, expected):
    rc, err, _ = _run(tmp_path, text, capsys)
    assert rc == 2 and len(err.splitlines()) == 1 and expected in err, err


def test_the_largest_seed_is_accepted():
    from harness.core.spec import SEED_MAX, TrialSpec

    assert TrialSpec(method="random", seed=SEED_MAX).seed == SEED_MAX
    with pytest.raises(ValueError):
        TrialSpec(method="random", seed=SEED_MAX + 1)
