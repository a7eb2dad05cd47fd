"""`harness status`'s summary keeps validation-only trials (a protocol search's) apart from test."""
from harness.core.metrics import metrics_from_predictions
from harness.run.progress import summary_frame
from harness.run.store import Store
from tests.store_rows import make_result


def test_validation_aucs_get_their_own_column(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    run = store.begin_run("g")
    tested = make_result(seed=0, domains=("movie",))
    searched = make_result(seed=1, domains=("movie",), shift=5.0)      # AUC 1.0 on valid rows
    searched.metrics = metrics_from_predictions(searched.predictions, "valid")
    for result in (tested, searched):
        store.write_result(result, run)
    frame = summary_frame(store)
    assert {"movie AUC", "movie valid AUC"} <= set(frame.columns)
    assert frame.loc[0, "movie valid AUC"].startswith("1.000")
    assert not frame.loc[0, "movie AUC"].startswith("1.000")        # the test mean is the test trial's alone
    assert frame.loc[0, "movie AUC"].endswith("(1)")
