"""The -BERT baselines read a declared dataset's item titles from the trial's own spec, not from
whatever this process loaded last under that name."""
from pathlib import Path
from types import SimpleNamespace

from harness.grid.expand import expand
from harness.grid.load import load_grid

REPO = Path(__file__).resolve().parents[3]


def test_item_texts_of_a_declared_dataset_come_from_the_spec(raw_dir, tmp_path, monkeypatch):
    from baselines._text import domain_texts
    from data import datasets as registry

    monkeypatch.setattr(registry, "_LAST", {})        # a fresh worker: nothing loaded before
    spec = expand(load_grid(REPO / "examples" / "dataset" / "grid.yaml"))[0]
    ctx = SimpleNamespace(raw_dir=raw_dir, cache_dir=tmp_path)
    texts = domain_texts("ml100k-loved", ["1", "50"], ctx, spec.data.datasets)
    assert texts == {"1": "Toy Story (1995)", "50": "Star Wars (1977)"}
