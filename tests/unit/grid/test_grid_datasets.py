"""A grid's `datasets:` block: declared datasets are domains; only the trials that read one hash it."""
import pytest

from harness.grid import GridError, expand, parse_grid

ML1M = {"ratings": {"path": "ml-1m/ratings.dat", "format": "movielens-1m"},
        "items": {"path": "ml-1m/movies.dat", "title": "title"}, "like_threshold": 3, "history": 10,
        "split": "users"}


def _grid(**changes):
    raw = {"name": "t", "datasets": {"ml1m": ML1M},
           "grid": {"method": ["random"], "k": [16], "seed": [0], "train_mix": ["movie", "ml1m"]},
           "eval": {"domains": ["movie", "ml1m"]}}
    raw.update(changes)
    return parse_grid(raw)


def test_a_declared_dataset_is_a_train_mix_and_an_eval_domain():
    specs = expand(_grid())
    assert [s.train_mix for s in specs] == ["movie", "ml1m"]
    for spec in specs:
        assert set(spec.data.datasets) == {"ml1m"}           # evaluated on it: in every id
        assert spec.data.datasets["ml1m"].split == "users"


def test_only_trials_that_read_a_declared_dataset_carry_it():
    plain = expand(_grid(datasets={}, grid={"method": ["random"], "k": [16], "seed": [0], "train_mix": ["movie"]},
                         eval={"domains": ["movie"]}))
    unused = expand(_grid(grid={"method": ["random"], "k": [16], "seed": [0], "train_mix": ["movie"]},
                          eval={"domains": ["movie"]}))
    assert [s.trial_id for s in unused] == [s.trial_id for s in plain]     # declaring changes no id
    assert unused[0].data.datasets == {}


@pytest.mark.parametrize("changes,message", [
    ({"eval": {"domains": ["movie", "ml10m"]}},
     "eval.domains[1]: 'ml10m' is not a dataset; registered or declared: movie, book, movie-users, ml1m"),
    ({"grid": {"method": ["random"], "k": [16], "train_mix": ["amazon"]}},
     "grid.train_mix[0]: 'amazon' is not a dataset"),
    ({"datasets": {"movie": ML1M}}, "datasets.movie: 'movie' is a registered dataset; choose another name"),
    ({"datasets": {"ML1M": ML1M}}, "datasets.ML1M: is not allowed as a dataset name"),
    ({"data": {"datasets": {"x": ML1M}}}, "data.datasets: is filled in from the top-level `datasets:` block"),
    ({"datasets": {"ml1m": {**ML1M, "format": "movielens-1m"}}}, "datasets.ml1m.format"),
])
def test_bad_dataset_declarations_are_one_line(changes, message):
    with pytest.raises(GridError) as err:
        _grid(**changes)
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1
