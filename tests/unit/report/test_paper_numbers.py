"""harness/report/paper_numbers.csv holds all 42 cells of the paper's Table 3, baselines
included, and the report's overlay shows every one of them."""
from harness.report import load_spec, render_report
from harness.report.sql import load_paper_numbers
from harness.run.store import Store
from tests.store_rows import make_result

METHODS = {"gru4rec": "GRU4Rec", "caser": "Caser", "sasrec": "SASRec", "dros": "DROS",
           "gru-bert": "GRU-BERT", "dros-bert": "DROS-BERT", "tallrec": "TALLRec"}
SPOT = {("movie", 16, "gru4rec"): 49.07, ("book", 256, "dros-bert"): 50.20,
        ("movie", 256, "tallrec"): 71.98, ("book", 64, "caser"): 49.72}


def test_every_table3_cell_is_listed_once_with_store_keys():
    frame = load_paper_numbers()
    assert len(frame) == 42 and set(frame["source_table"]) == {"Table 3"}
    assert set(frame["method"]) == set(METHODS)
    assert (frame["train_mix"] == frame["eval_domain"]).all()
    assert set(frame.loc[frame["method"] == "tallrec", "variant"]) == {"full"}
    assert frame.loc[frame["method"] != "tallrec", "variant"].isna().all()
    assert not frame.duplicated(["method", "eval_domain", "k"]).any()
    assert set(zip(frame["eval_domain"], frame["k"])) == {(d, k) for d in ("movie", "book")
                                                          for k in (16, 64, 256)}
    for (domain, k, method), auc in SPOT.items():
        row = frame[(frame["eval_domain"] == domain) & (frame["k"] == k) & (frame["method"] == method)]
        assert row["auc_x100"].tolist() == [auc]


def test_the_table3_overlay_covers_every_cell(tmp_path):
    db = tmp_path / "s.duckdb"
    store = Store(db)
    run = store.begin_run("one")
    store.write_result(make_result(method="gru4rec", k=16, seed=0, domains=("movie",)), run)
    res = next(r for r in render_report(db, load_spec("paper"), tmp_path / "o").sections
               if r.section.key == "table3")
    expected = load_paper_numbers()
    for rec in expected.itertuples():
        row = ("Movie" if rec.eval_domain == "movie" else "Book", rec.k)
        assert res.pivot.cell(row, METHODS[rec.method]).overlay == rec.auc_x100
    csv = (tmp_path / "o" / "table3.csv").read_text()
    assert "49.07" in csv and "71.98" in csv
