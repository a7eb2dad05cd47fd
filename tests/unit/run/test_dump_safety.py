"""Issue 24: a dump folder is read back without trusting it: a forged manifest, a FIFO, a folder
name with glob characters, reordered columns and a damaged source store each end in one line or
load correctly, and never leave a half-built store behind."""
from __future__ import annotations

import json
import os
import shutil

import duckdb
import pytest

from harness.cli.main import main
from harness.report.demo import build_demo_store
from harness.run.dump import dump, load
from harness.run.store import StoreError


@pytest.fixture(scope="module")
def dumped(tmp_path_factory):
    """(source store, its dump folder), built once."""
    work = tmp_path_factory.mktemp("dumps")
    db = work / "src.duckdb"
    build_demo_store(db, seeds=1, n=40)
    dump(db, work / "d")
    return db, work / "d"


def _copy(dumped, tmp_path, name="d"):
    target = tmp_path / name
    shutil.copytree(dumped[1], target)
    return target


def _one_line(capsys, argv, *parts):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in err, err
    return err


@pytest.mark.parametrize("manifest, part", [
    ('{"schema_version": 1e999, "rows": {}}', "schema_version"),
    ('{"schema_version": 1, "rows": [["runs", 1], ["trials", 2]]}', "rows"),
    ('{"schema_version": "1", "rows": {"runs": 1}}', "schema_version"),
    ('{"schema_version": 1, "rows": {"runs": 1}}', "rows lacks trials"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("[1, 2]", "the top level"),
    ("\xff\xfe", "not JSON"),
])
def test_a_forged_manifest_is_one_line(dumped, tmp_path, capsys, manifest, part):
    folder = _copy(dumped, tmp_path)
    (folder / "store.json").write_bytes(manifest.encode("latin-1"))
    _one_line(capsys, ["store", "load", str(folder), "--db", str(tmp_path / "n.duckdb")],
              "is not a store dump", part)
    assert not (tmp_path / "n.duckdb").exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["store.json", "trials.parquet"])
def test_a_fifo_in_the_dump_does_not_hang(dumped, tmp_path, capsys, name):
    folder = _copy(dumped, tmp_path)
    (folder / name).unlink()
    os.mkfifo(folder / name)
    _one_line(capsys, ["store", "load", str(folder), "--db", str(tmp_path / "n.duckdb")],
              f"{folder / name} is not a regular file")
    assert not (tmp_path / "n.duckdb").exists()


def test_a_folder_name_with_glob_characters_loads_exactly_that_folder(dumped, tmp_path):
    _copy(dumped, tmp_path, "backup 1")               # what the glob `backup [1]` would match
    other = tmp_path / "backup [1]"
    small = tmp_path / "small.duckdb"
    build_demo_store(small, seeds=1, n=10)
    con = duckdb.connect(str(small))
    con.execute("DELETE FROM predictions WHERE sample_id NOT LIKE '%1'")   # a different dump
    con.close()
    written = dump(small, other)
    load(other, tmp_path / "n.duckdb")
    con = duckdb.connect(str(tmp_path / "n.duckdb"), read_only=True)
    got = con.execute("SELECT count(*) FROM predictions").fetchone()[0]
    con.close()
    assert got == written["rows"]["predictions"]


def test_columns_are_bound_by_name_not_by_position(dumped, tmp_path):
    folder = _copy(dumped, tmp_path)
    parquet = str(folder / "trials.parquet").replace("'", "''")
    con = duckdb.connect()
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{parquet}')").fetchall()]
    i, j = cols.index("k"), cols.index("seed")          # two INTEGER columns, different values
    cols[i], cols[j] = cols[j], cols[i]
    con.execute(f"COPY (SELECT {', '.join(cols)} FROM read_parquet('{parquet}')) TO "
                f"'{parquet}.new' (FORMAT parquet)")
    con.close()
    os.replace(f"{folder / 'trials.parquet'}.new", folder / "trials.parquet")
    load(folder, tmp_path / "n.duckdb")
    query = "SELECT trial_id, k, seed FROM trials ORDER BY trial_id"
    with duckdb.connect(str(tmp_path / "n.duckdb"), read_only=True) as back, \
            duckdb.connect(str(dumped[0]), read_only=True) as source:
        assert back.execute(query).fetchall() == source.execute(query).fetchall()


def test_a_renamed_column_is_refused(dumped, tmp_path):
    folder = _copy(dumped, tmp_path)
    parquet = str(folder / "metrics.parquet").replace("'", "''")
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * RENAME (auc AS area) FROM read_parquet('{parquet}')) TO "
                f"'{parquet}.new' (FORMAT parquet)")
    con.close()
    os.replace(f"{folder / 'metrics.parquet'}.new", folder / "metrics.parquet")
    with pytest.raises(StoreError, match=r"not those of `metrics` \(unknown: \['area'\]; missing: \['auc'\]\)"):
        load(folder, tmp_path / "n.duckdb")
    assert not (tmp_path / "n.duckdb").exists()


def test_dump_of_a_truncated_store_is_one_line_and_leaves_no_folder(dumped, tmp_path, capsys):
    db = tmp_path / "t.duckdb"
    shutil.copyfile(dumped[0], db)
    os.truncate(db, db.stat().st_size // 3)
    _one_line(capsys, ["store", "dump", str(tmp_path / "out"), "--db", str(db)], "is damaged")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["dangling-symlink", "proc"])
def test_dump_into_an_impossible_folder_is_one_line(dumped, tmp_path, capsys, kind):
    out = tmp_path / "out"
    if kind == "dangling-symlink":
        out.symlink_to(tmp_path / "nowhere")
    else:
        out = "/proc/x"
    _one_line(capsys, ["store", "dump", str(out), "--db", str(dumped[0])], "cannot create the dump folder")
    assert not (tmp_path / "nowhere").exists()


def test_load_through_a_dangling_symlink_creates_nothing(dumped, tmp_path, capsys):
    (tmp_path / "n.duckdb").symlink_to(tmp_path / "elsewhere.duckdb")
    _one_line(capsys, ["store", "load", str(dumped[1]), "--db", str(tmp_path / "n.duckdb")], "already exists")
    assert not (tmp_path / "elsewhere.duckdb").exists()


@pytest.mark.parametrize("sql, part", [
    # a pending trial's id on another trial's row: `harness run` would skip it as done
    ("UPDATE trials SET trial_id = md5(trial_id) || md5(trial_id) WHERE seed = 0",
     "is not the trial its config describes"),
    ("DELETE FROM trials WHERE trial_id = (SELECT min(trial_id) FROM trials)",
     "which trials.parquet does not hold"),
])
def test_rows_that_do_not_belong_to_their_spec_are_refused(dumped, tmp_path, sql, part):
    folder = _copy(dumped, tmp_path)
    parquet = str(folder / "trials.parquet").replace("'", "''")
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{parquet}')")
    con.execute(sql.replace("trials", "t"))
    con.execute(f"COPY t TO '{parquet}' (FORMAT parquet)")
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()
    manifest = json.loads((folder / "store.json").read_text())
    manifest["rows"]["trials"] = rows
    (folder / "store.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=part):
        load(folder, tmp_path / "n.duckdb")
    assert not (tmp_path / "n.duckdb").exists()


def test_search_trials_travel_with_a_dump_and_older_dumps_load_without_them(tmp_path):
    """A v2 study ships its search as Parquet too; a dump made before `search_trials` existed
    (the committed cpu-smollm2 store) still loads, with no search trials."""
    from harness.run.dump import dump, load
    from harness.run.store import Store

    src = tmp_path / "src.duckdb"
    with Store(src).writer() as con:
        con.execute("INSERT INTO search_trials VALUES ('r1', 'movie@K64', 't0', NULL, '{\"lr\": 1}', "
                    "'uauc', 'max', 0.61, 'complete', 2, '[0.6, 0.61]', true)")
    dump(src, tmp_path / "d")
    assert json.loads((tmp_path / "d" / "store.json").read_text())["rows"]["search_trials"] == 1
    load(tmp_path / "d", tmp_path / "back.duckdb")
    with Store(tmp_path / "back.duckdb").reader() as con:
        assert con.execute("SELECT cell, objective, chosen FROM search_trials").fetchall() == [
            ("movie@K64", 0.61, True)]
    (tmp_path / "d" / "search_trials.parquet").unlink()
    manifest = json.loads((tmp_path / "d" / "store.json").read_text())
    del manifest["rows"]["search_trials"]
    (tmp_path / "d" / "store.json").write_text(json.dumps(manifest))
    load(tmp_path / "d", tmp_path / "old.duckdb")
    with Store(tmp_path / "old.duckdb").reader() as con:
        assert con.execute("SELECT count(*) FROM search_trials").fetchone()[0] == 0
