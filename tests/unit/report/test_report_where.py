"""Issue 24: `report --where` is checked by DuckDB's own parser (no quote trick closes the WHERE
clause), and `report --timeout` / Ctrl-C stop a report whose SQL never ends."""
import signal
import subprocess
import sys
import time

import pytest

from harness.cli.main import main
from harness.report import ReportError, load_spec, render_report
from harness.report.scope import ReportScope, check_predicate
from harness.run.store import Store
from tests.store_rows import make_result

LONG_WHERE = "(SELECT count(*) FROM range(100000000000)) > 0"   # 1e11 rows: minutes


@pytest.fixture
def db(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    run = store.begin_run("g")
    for seed in (0, 1):
        store.write_result(make_result(seed=seed), run)
    return store.path


@pytest.mark.parametrize("where", [
    "1=1 OR $$'$$ = $$x$$) UNION ALL SELECT trial_id, method, variant, config FROM trials WHERE ($$'$$ = $$x$$",
    "1=1 OR $$'$$ = $$x$$) UNION ALL SELECT trial_id, method, variant, config FROM trials WHERE (1=1",
    "1=1 OR $tag$'$tag$ = 'x') UNION ALL SELECT 1, 2, 3, 4 --",
    "true) UNION SELECT * FROM trials WHERE (true",
    "true) ORDER BY (1",
    "true) GROUP BY ALL HAVING (true",
    "true) LIMIT (0",
    "1=1; DROP TABLE trials",
    "method = 'x",
])
def test_a_predicate_that_escapes_its_where_clause_is_refused(db, tmp_path, where):
    with pytest.raises(ReportError, match="--where: not one SQL condition") as err:
        render_report(db, load_spec("paper"), tmp_path / "o", scope=ReportScope(all=True, where=where))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("where", [
    "method IN ('a;b', 'c--d', $$)$$) AND (k > 1 OR (seed = 0))",
    "seed = 0 -- a trailing comment",
    "trial_id IN (SELECT trial_id FROM metrics WHERE auc > 0)",
])
def test_real_conditions_still_pass(where):
    assert check_predicate(where).count("WHERE (") >= 1


def test_a_dollar_quoted_predicate_narrows_and_does_not_widen(db, tmp_path):
    out = render_report(db, load_spec("paper"), tmp_path / "o",
                        scope=ReportScope(all=True, where="variant = $$nope$$ OR seed = 0"))
    assert "where variant = $$nope$$ OR seed = 0" in out.html.read_text()


def _harness(*args):
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_report_timeout_and_ctrl_c_stop_a_never_ending_where(db, tmp_path, capsys):
    assert main(["report", "--db", str(db), "--timeout", "0"]) == 2
    assert "--timeout must be a positive number" in capsys.readouterr().err
    base = ["report", "--db", str(db), "--all", "--where", LONG_WHERE, "--out", str(tmp_path / "o")]
    timed = _harness(*base, "--timeout", "1")
    try:
        out, err = timed.communicate(timeout=60)
    finally:
        timed.kill()
    assert timed.returncode == 2, err
    assert err.strip() == "error: the report ran past its 1 s --timeout and was stopped", err
    proc = _harness(*base)
    try:
        time.sleep(6)   # past the imports and the store check, inside DuckDB
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        stopped = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 130 and err.strip() == "interrupted", err
    assert stopped < 10   # it ran on for minutes before (the bound is loose for a loaded machine)
