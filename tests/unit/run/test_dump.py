"""`harness store dump/load`: a store as Parquet files and back, with nothing lost and no SQL from the folder."""
from __future__ import annotations

import json

import duckdb
import pytest

from harness.report.demo import build_demo_store
from harness.run.dump import TABLES, dump, load
from harness.run.store import StoreError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    db = tmp_path_factory.mktemp("dump") / "src.duckdb"
    build_demo_store(db, seeds=2, n=60)
    return db


def _rows(db, table):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_round_trip_keeps_every_row(store, tmp_path):
    manifest = dump(store, tmp_path / "d")
    assert manifest["rows"]["predictions"] > 0
    load(tmp_path / "d", tmp_path / "back.duckdb")
    for table in TABLES:
        assert _rows(tmp_path / "back.duckdb", table) == _rows(store, table), table
    # the view the reports read is there too (the harness's own schema, not the folder's)
    con = duckdb.connect(str(tmp_path / "back.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM results").fetchone()[0] > 0


def test_load_refuses_an_existing_store_and_leaves_it_alone(store, tmp_path):
    dump(store, tmp_path / "d")
    target = tmp_path / "mine.duckdb"
    target.write_bytes(b"precious")
    with pytest.raises(StoreError, match="already exists"):
        load(tmp_path / "d", target)
    assert target.read_bytes() == b"precious"


def test_dump_refuses_a_folder_with_files(store, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep.txt").write_text("x")
    with pytest.raises(StoreError, match="not an empty folder"):
        dump(store, tmp_path / "d")
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["keep.txt"]


def test_a_damaged_dump_leaves_no_half_built_store(store, tmp_path):
    dump(store, tmp_path / "d")
    manifest = json.loads((tmp_path / "d" / "store.json").read_text())
    manifest["rows"]["predictions"] += 1                     # rows lost since the dump
    (tmp_path / "d" / "store.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="manifest says"):
        load(tmp_path / "d", tmp_path / "x.duckdb")
    assert not (tmp_path / "x.duckdb").exists()
    duckdb.connect().execute(f"COPY (SELECT 1 AS nothing) TO '{tmp_path / 'd' / 'trials.parquet'}' (FORMAT parquet)")
    with pytest.raises(StoreError, match="cannot load"):
        load(tmp_path / "d", tmp_path / "x.duckdb")
    assert not (tmp_path / "x.duckdb").exists()


def test_a_folder_that_is_not_a_dump_is_named(tmp_path):
    with pytest.raises(StoreError, match="not a store dump"):
        load(tmp_path, tmp_path / "x.duckdb")


def test_cli_dump_and_load_print_one_line_and_refuse_with_one_line(store, tmp_path, capsys):
    from harness.cli.main import main

    assert main(["store", "dump", str(tmp_path / "d"), "--db", str(store)]) == 0
    assert main(["store", "load", str(tmp_path / "d"), "--db", str(tmp_path / "n.duckdb")]) == 0
    assert "loaded" in capsys.readouterr().out
    for argv, part in ((["store", "load", "--db", str(tmp_path / "m.duckdb")], "needs a folder"),
                       (["store", "load", str(tmp_path / "d"), "--db", str(tmp_path / "n.duckdb")], "already exists")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and part in err, err
