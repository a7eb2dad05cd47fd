"""Issue #12 parts 1 and 7 for reports: a spec's SQL sees only the store, its files stay inside
--out, stored text cannot inject HTML into report.md, and bad inputs are one line (exit 2)."""
import os

import pytest

from harness.cli.main import main
from harness.report import ReportError, render_report
from harness.report.spec import parse_spec
from harness.run.store import Store
from tests.store_rows import make_result

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def db(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.write_result(make_result(seed=0))
    store.write_result(make_result(seed=1, status="failed", error=f"boom {SCRIPT} | & done"))
    (tmp_path / "victim.txt").write_text("precious")
    return store.path


def _spec(tmp_path, setup=None, **section):
    data = {"name": "t", "title": "T", "sections": [
        {"title": "Failures", "view": "table", "sql": "SELECT seed, error FROM trials ORDER BY seed",
         **section}]}
    if setup:
        data["setup"] = setup
    return parse_spec(data, base_dir=tmp_path)


@pytest.mark.parametrize("setup", [
    "COPY (SELECT 'x') TO '{d}/victim.txt' (FORMAT csv)",
    "ATTACH '{d}/r2.duckdb' AS o",
    "CREATE TEMP VIEW v AS SELECT * FROM read_text('{d}/victim.txt')",
    "SET enable_external_access = true",
])
def test_setup_sql_cannot_reach_outside_the_store(db, tmp_path, setup):
    spec = _spec(tmp_path, setup=[setup.format(d=tmp_path)])
    with pytest.raises(ReportError, match="setup SQL failed") as err:
        render_report(db, spec, tmp_path / "out")
    assert "\n" not in str(err.value)
    assert (tmp_path / "victim.txt").read_text() == "precious"
    assert not (tmp_path / "r2.duckdb").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad_id", ["../../x", "/tmp/x", "a/b", "..", ".hidden", "x" * 61])
def test_section_ids_are_plain_names(tmp_path, bad_id):
    with pytest.raises(ReportError, match="must be a plain name"):
        _spec(tmp_path, id=bad_id)


def test_report_md_escapes_stored_html(db, tmp_path):
    out = render_report(db, _spec(tmp_path), tmp_path / "out")
    md = out.markdown.read_text()
    assert SCRIPT not in md and "&lt;script>alert(1)&lt;/script>" in md
    assert "boom &lt;script>alert(1)&lt;/script> \\| &amp; done" in md
    assert SCRIPT not in out.html.read_text()
    assert {p.parent for p in out.csvs} == {tmp_path / "out"}


def _refused(capsys, argv, *parts):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert all(p in err for p in parts), err


def _spec_file(tmp_path, section: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(f"name: t\ntitle: T\nsections:\n  - title: A\n    view: table\n    {section}\n")
    return str(path)


def test_report_bad_inputs_are_one_line(db, tmp_path, capsys):
    base = ["report", "--db", str(db), "--all"]
    (tmp_path / "latin1.sql").write_bytes(b"SELECT '\xe9'")
    for section, parts in [("query: missing/dir/x.sql", ("not found",)),
                           ("query: ../../../../etc/hostname", ("must be a .sql file",)),
                           ("query: latin1.sql", ("not UTF-8",)),
                           ("id: ../../escape\n    sql: SELECT 1 AS x", ("plain name",))]:
        _refused(capsys, base + ["--spec", _spec_file(tmp_path, section)], *parts)
    good = _spec_file(tmp_path, "sql: SELECT 1 AS x")
    _refused(capsys, base + ["--spec", good, "--out", str(db)], "is a file")
    _refused(capsys, base + ["--spec", good, "--out", "/proc/out"], "cannot write the report")
    os.truncate(db, db.stat().st_size // 2)
    _refused(capsys, base + ["--spec", good, "--out", str(tmp_path / "o")], "is damaged")
    assert not (tmp_path / "o").exists()
