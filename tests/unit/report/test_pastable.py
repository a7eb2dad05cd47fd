"""A report a paper author can paste: Table 3 as LaTeX (booktabs), figures as SVG and PDF, and
cells whose first line is mean ± sd, with the intervals on quieter lines below."""
import re

import pytest

from harness.report import load_spec, render_report
from harness.report.latex import escape
from harness.report.demo import build_demo_store


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    work = tmp_path_factory.mktemp("pastable")
    build_demo_store(work / "demo.duckdb", seeds=2, n=120)
    out = work / "out"
    return render_report(work / "demo.duckdb", load_spec("paper"), out, ci=True, ci_resamples=100,
                         vector=True), out


def test_table3_tex_is_a_booktabs_tabular_with_the_marks(report):
    result, out = report
    tex = (out / "table3.tex").read_text()
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 1 and r"\begin{tabular}{llrrrrrrr}" in tex
    header = next(line for line in tex.splitlines() if line.startswith("Domain & K"))
    assert header.split(" & ")[2] == "TALLRec"                      # TALLRec first after K
    pivot = next(r for r in result.sections if r.section.key == "table3").pivot
    row = pivot.rows[0]
    best = max(pivot.columns, key=lambda c: pivot.cell(row, c).mean if pivot.cell(row, c).n else -1)
    line = next(line for line in tex.splitlines() if line.startswith(f"{row[0]} & {row[1]} &"))
    cell = line.split(" & ")[2 + pivot.columns.index(best)]
    assert cell.startswith(r"\textbf{") and r"$\pm$" in cell
    assert re.search(r"\{\\scriptsize \[\d+\.\d, \d+\.\d\]\}", tex)     # the interval line
    assert "table3.tex" in (out / "report.html").read_text()


def test_every_figure_is_also_svg_and_pdf(report):
    result, out = report
    for res in result.sections:
        if res.png is not None:
            svg, pdf = out / f"{res.section.key}.svg", out / f"{res.section.key}.pdf"
            assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
            assert pdf.read_bytes()[:5] == b"%PDF-"
            assert svg in res.extra_files and pdf in res.extra_files


def test_a_cell_reads_mean_sd_first_and_intervals_below(report):
    _, out = report
    html = (out / "report.html").read_text()
    table = html[html.index("id='table3'"):html.index("id='fig3b'")]
    first = re.search(r"<td class='num[^']*'><span class='v'>([^<]+)</span> <span class='sd'>± ([^<]+)</span>"
                      r"(?:<span class='mark'>[^<]*</span>)?<span class='sub'>\[", table)
    assert first, "a cell should open with mean ± sd, then the interval line"
    assert "<span class='n'>" not in table or "(1)" in table      # the usual n is not repeated


def test_latex_escapes_what_latex_would_read_as_markup():
    assert escape("a_b & 50% #1") == r"a\_b \& 50\% \#1"
    assert escape("± Δ −") == r"$\pm$ $\Delta$ -"
