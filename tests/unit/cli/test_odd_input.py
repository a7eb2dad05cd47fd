"""Issue 24, the last tracebacks on odd input: a report spec in latin-1 or nested 100k deep,
`query --format json` on UUID / BIT / BLOB columns, a lone surrogate in a grid, and a path with
a component over 255 bytes: one line and exit 2 (or, for query, the values as text)."""
import json

import pytest

from harness.cli.main import main
from harness.grid import GridError, parse_grid
from harness.grid.load import load_grid
from harness.run.store import Store
from tests.store_rows import make_result


@pytest.fixture
def db(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.write_result(make_result(seed=0))
    return store.path


def _refused(capsys, argv, *parts):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert all(p in err for p in parts), err


@pytest.mark.parametrize("content, part", [
    ("name: t\ntitle: 'caf\xe9'\nsections: []\n".encode("latin-1"), "is not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b"a: " + b"{b: " * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
])
def test_an_odd_report_spec_is_one_line(db, tmp_path, capsys, content, part):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(content)
    _refused(capsys, ["report", "--db", str(db), "--spec", str(spec), "--out", str(tmp_path / "o")], part)


def test_query_json_writes_uuid_bit_and_blob_as_text(db, capsys):
    sql = ("SELECT '4d8e1b36-1b7e-4a6c-9a55-0e4f6f0c2b11'::UUID AS u, '101'::BIT AS b, "
           "'0000000011'::BIT AS b2, '\\x00ab\\xff'::BLOB AS bl, {'id': uuid(), 'bits': '11'::BIT} AS s")
    assert main(["query", sql, "--db", str(db), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["u"] == "4d8e1b36-1b7e-4a6c-9a55-0e4f6f0c2b11"
    assert row["b"] == "101" and row["b2"] == "0000000011" and row["s"]["bits"] == "11"
    assert row["bl"] == "\\x00ab\\xFF" and len(row["s"]["id"]) == 36
    assert main(["query", sql, "--db", str(db), "--format", "csv"]) == 0
    assert "101,0000000011" in capsys.readouterr().out


def test_a_lone_surrogate_in_a_grid_is_a_grid_error(tmp_path):
    raw = {"name": "g", "grid": {"method": ["tallrec"], "variant": ["RT"], "k": [16], "seed": [0],
                                 "train_mix": ["movie"]}, "lora": {"target_modules": ["q_proj\ud800"]}}
    with pytest.raises(GridError, match=r'lora.target_modules\[0\]: "q_proj\\ud800" is not valid Unicode'):
        parse_grid(raw)
    path = tmp_path / "g.yaml"
    path.write_text('name: g\ngrid: {method: [random], k: [16], seed: [0], train_mix: [movie]}\n'
                    'params: {"\\ud800x": 1}\n')
    with pytest.raises(GridError, match="is not valid Unicode") as err:
        load_grid(path)
    str(err.value).encode("utf-8")   # the message itself prints


@pytest.mark.parametrize("argv", [
    ["run", "grids/smoke.yaml", "--dry-run"], ["query", "SELECT 1"], ["status"], ["store", "check"],
    ["store", "dump", "d"], ["report"], ["export", "abcdef01", "d"],
])
def test_a_path_component_over_255_bytes_is_one_line(tmp_path, capsys, argv):
    long = tmp_path / ("x" * 300) / "r.duckdb"
    _refused(capsys, argv + ["--db", str(long)], "--db", "300 bytes long, over the 255")
    assert not any(tmp_path.iterdir())


def test_a_long_dir_or_out_is_one_line(db, tmp_path, capsys):
    long = str(tmp_path / ("é" * 200))   # 400 bytes in UTF-8
    _refused(capsys, ["store", "dump", long, "--db", str(db)], "DIR", "400 bytes long")
    _refused(capsys, ["report", "--db", str(db), "--out", long], "--out", "400 bytes long")
