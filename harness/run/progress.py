"""The run's console: a rich live view while trials run, a summary table at the end.

The live view shows done / running / failed / queued, the trials running now, the latest AUCs and
an ETA. When stdout is not a terminal (CI, SLURM logs) it prints one line per finished trial
instead. The driver also keeps `progress.json` in the run directory up to date, so that
`harness status` can show the same view from another shell while the run is going.
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from harness.core.result import TrialResult
from harness.core.spec import TrialSpec

LATEST = 8   # finished trials shown with their AUCs


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _auc_text(aucs: dict) -> str:
    return "  ".join(f"{d} {'-' if a is None else f'{a:.3f}'}" for d, a in sorted(aucs.items())) or "-"


@dataclass
class View:
    """Everything the live view shows; built by RunProgress or from a store by `harness status`."""
    title: str
    total: int
    done: int = 0
    failed: int = 0
    queued: int = 0
    retrying: int = 0
    running: list = field(default_factory=list)      # [label, started_at]
    latest: list = field(default_factory=list)       # [label, status, {domain: auc}, wall_s]
    elapsed_s: float | None = None
    eta_s: float | None = None
    note: str = ""


def render_view(view: View, now: float | None = None):
    now = now or time.time()
    counts = Text.assemble(
        ("done ", "bold"), (f"{view.done}", "green"), "  ",
        ("running ", "bold"), (f"{len(view.running)}", "cyan"), "  ",
        ("failed ", "bold"), (f"{view.failed}", "red" if view.failed else ""), "  ",
        ("queued ", "bold"), f"{view.queued}",
        *((("  retrying ", "bold"), f"{view.retrying}") if view.retrying else ()),
        ("  of ", "dim"), f"{view.total}", "   ",
        ("elapsed ", "bold"), fmt_duration(view.elapsed_s), "  ",
        ("ETA ", "bold"), fmt_duration(view.eta_s) if view.eta_s is not None else "-")
    parts = [counts]
    if view.running:
        table = Table(box=None, show_header=True, header_style="bold cyan", pad_edge=False)
        table.add_column("running")
        table.add_column("for", justify="right")
        for label, started in view.running[:12]:
            table.add_row(label, fmt_duration(now - started))
        if len(view.running) > 12:
            table.add_row(f"... and {len(view.running) - 12} more", "")
        parts.append(table)
    if view.latest:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        table.add_column("latest")
        table.add_column("AUC")
        table.add_column("wall", justify="right")
        for label, status, aucs, wall in view.latest:
            style = "" if status == "complete" else "red"
            table.add_row(Text(label, style=style), Text(_auc_text(aucs) if status == "complete"
                                                         else status, style=style), fmt_duration(wall))
        parts.append(table)
    if view.note:
        parts.append(Text(view.note, style="yellow"))
    return Panel(Group(*parts), title=view.title, title_align="left")


class RunProgress:
    """The driver's Observer: counts trials, estimates the ETA, renders, writes progress.json."""

    def __init__(self, specs: list[TrialSpec], title: str, state_file: Path | None = None,
                 console: Console | None = None, live: bool | None = None, run_id: str = ""):
        self.specs = {s.trial_id: s for s in specs}
        self.state = {tid: "queued" for tid in self.specs}
        self.start_times: dict[str, float] = {}
        self.walls: dict[tuple, list[float]] = {}
        self.latest: deque = deque(maxlen=LATEST)
        self.title, self.state_file, self.run_id = title, state_file, run_id
        self.console = console or Console()
        self.live_mode = self.console.is_terminal if live is None else live
        self.t0 = time.time()
        self.max_running = 1
        self.note = ""
        self._live: Live | None = None
        self._written = 0.0
        self.state_error = ""     # the first failed progress.json write, if any

    # -- Observer ----------------------------------------------------------------------------
    def started(self, spec: TrialSpec) -> None:
        self.state[spec.trial_id] = "running"
        self.start_times[spec.trial_id] = time.time()
        self.max_running = max(self.max_running, self._count("running"))
        self._changed()

    def finished(self, result: TrialResult, final: bool) -> None:
        spec = self.specs.get(result.trial_id)
        if spec is None:
            return
        status = "complete" if result.status == "complete" else ("failed" if final else "retrying")
        self.state[result.trial_id] = status
        self.start_times.pop(result.trial_id, None)
        aucs = {m.eval_domain: m.auc for m in result.metrics}
        if result.status == "complete":
            self.walls.setdefault(self._group(spec), []).append(result.wall_s)
        self.latest.appendleft((spec.label(), status, aucs, result.wall_s))
        if not self.live_mode:
            self._print_line(spec, status, aucs, result)
        self._changed(force=True)

    def warn(self, note: str) -> None:
        self.note = note
        if note and not self.live_mode:   # CI / log files: the note as a line of its own
            self.console.print(f"[yellow]{note}[/]", highlight=False, soft_wrap=True)
        self._changed(force=True)

    # -- view --------------------------------------------------------------------------------
    def _count(self, status: str) -> int:
        return sum(1 for s in self.state.values() if s == status)

    @staticmethod
    def _group(spec: TrialSpec) -> tuple:
        return (spec.method, spec.variant)

    def eta(self) -> float | None:
        walls = [w for ws in self.walls.values() for w in ws]
        if not walls:
            return None
        overall = statistics.mean(walls)
        now, work = time.time(), 0.0
        for tid, status in self.state.items():
            if status in ("complete", "failed"):
                continue
            group = self.walls.get(self._group(self.specs[tid]))
            est = statistics.mean(group) if group else overall
            work += max(0.0, est - (now - self.start_times[tid])) if status == "running" else est
        return work / max(1, self.max_running)

    def view(self) -> View:
        running = sorted(((self.specs[t].label(), self.start_times[t]) for t, s in self.state.items()
                          if s == "running"), key=lambda r: r[1])
        return View(title=self.title, total=len(self.specs), done=self._count("complete"),
                    failed=self._count("failed"), queued=self._count("queued"),
                    retrying=self._count("retrying"), running=[list(r) for r in running],
                    latest=[list(x) for x in self.latest], elapsed_s=time.time() - self.t0,
                    eta_s=self.eta(), note=self.note)

    def __rich__(self):
        return render_view(self.view())

    # -- output ------------------------------------------------------------------------------
    def _print_line(self, spec, status, aucs, result) -> None:
        finished = self._count("complete") + self._count("failed")
        width = len(str(len(self.specs)))
        mark = {"complete": "[green]done[/]", "failed": "[red]FAILED[/]",
                "retrying": "[yellow]failed, will retry[/]"}[status]
        detail = _auc_text(aucs) if status == "complete" else (result.error or "").strip().splitlines()[-1:]
        detail = detail if isinstance(detail, str) else (detail[0][:120] if detail else "")
        self.console.print(f"[{finished:>{width}}/{len(self.specs)}] {mark} {spec.label()}  "
                           f"{detail}  ({fmt_duration(result.wall_s)})", highlight=False,
                           soft_wrap=True)

    def _changed(self, force: bool = False) -> None:
        if self._live is not None:
            self._live.refresh()
        if self.state_file and (force or time.time() - self._written > 1.0):
            self.write_state()

    def write_state(self) -> None:
        """progress.json for `harness status`; a disk that refuses it (full) costs the view only:
        the results' own writes say what is lost, so this never stops the run."""
        self._written = time.time()
        state = {"run_id": self.run_id, "pid": os.getpid(), "host": socket.gethostname(),
                 "updated_at": self._written, "view": asdict(self.view())}
        tmp = self.state_file.with_suffix(".tmp")
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.state_file)
        except OSError as exc:
            if not self.state_error:
                self.state_error = f"{self.state_file}: {exc.strerror or exc}"

    def __enter__(self) -> "RunProgress":
        if self.live_mode:
            self._live = Live(self, console=self.console, refresh_per_second=2, transient=False)
            self._live.start()
        if self.state_file:
            self.write_state()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self.state_file:
            self.write_state()


# -- summary ---------------------------------------------------------------------------------
def summary_frame(store, trial_ids: list[str] | None = None):
    """One row per method / variant: trials complete and failed, and per eval domain the mean,
    sd and count of AUC over the complete trials (columns `<domain> AUC`)."""
    where = ""
    if trial_ids is not None:
        ids = ",".join(f"'{t}'" for t in trial_ids if all(c in "0123456789abcdef" for c in t))
        where = f"WHERE t.trial_id IN ({ids or 'NULL'})"
    counts = store.query(f"""
        SELECT t.method, coalesce(t.variant, '') AS variant,
               count(*) FILTER (WHERE t.status = 'complete') AS complete,
               count(*) FILTER (WHERE t.status = 'failed') AS failed
        FROM trials t {where} GROUP BY ALL ORDER BY ALL""")
    aucs = store.query(f"""
        SELECT t.method, coalesce(t.variant, '') AS variant, m.eval_domain, m.split,
               avg(m.auc) AS mean, stddev_samp(m.auc) AS sd, count(m.auc) AS n
        FROM trials t JOIN metrics m USING (trial_id)
        {where}{' AND' if where else 'WHERE'} t.status = 'complete'
        GROUP BY ALL ORDER BY ALL""")
    # Search trials score validation rows only: their AUCs get columns of their own, never
    # averaged into the test split's.
    for domain, split in sorted(set(zip(aucs["eval_domain"], aucs["split"]))):
        part = aucs[(aucs["eval_domain"] == domain) & (aucs["split"] == split)]
        text = {(r.method, r.variant): _mean_sd(r.mean, r.sd, r.n) for r in part.itertuples()}
        column = f"{domain} AUC" if split == "test" else f"{domain} {split} AUC"
        counts[column] = [text.get((r.method, r.variant), "") for r in counts.itertuples()]
    return counts


def _mean_sd(mean, sd, n) -> str:
    if mean is None or mean != mean:
        return ""
    spread = f"±{sd:.3f}" if sd is not None and sd == sd else ""
    return f"{mean:.3f}{spread} ({n})"


def summary_table(frame, title: str = "summary") -> Table:
    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        table.add_column(col, justify="right" if col not in ("method", "variant") else "left")
    for row in frame.itertuples(index=False):
        cells = [str(v) for v in row]
        failed_at = list(frame.columns).index("failed")
        cells[failed_at] = f"[red]{cells[failed_at]}[/]" if row.failed else cells[failed_at]
        table.add_row(*cells)
    return table
