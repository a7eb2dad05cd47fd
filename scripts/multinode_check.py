"""The multi-node path, for real: a two-node Ray cluster on this machine (ray.cluster_utils.Cluster:
a head and a worker node, separate raylets with their own CPUs, token auth, loopback only), then
`harness run GRID --address ...` in a subprocess, the worker node killed mid-run, and a check that
the run finishes with every trial stored exactly once, first-phase (build) and consumer (use)
trials meeting through the shared HARNESS_CACHE_DIR across nodes.

    python scripts/multinode_check.py          # prints what happened; exit 0 when every check holds
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GRID = """name: multinode
imports: [tests.fixtures.methods]
grid:
  method: [test-staged, test-sleep]
  k: [4, 8]
  seed: [0, 1, 2, 3]
  train_mix: [movie]
overrides:
  test-staged:
    params: {{tag: "{tag}", build_s: 2.0}}
    resources: {{gpus_per_trial: 0}}
  test-sleep:
    params: {{sleep_s: 1.5}}
ray:
  max_retries: 3
"""


def _env(tmp: Path) -> dict:
    os.environ.setdefault("RAY_AUTH_MODE", "token")          # what a real cluster uses
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")   # loopback only
    os.environ["HARNESS_CACHE_DIR"] = str(tmp / "shared-cache")
    os.environ["RAY_TMPDIR"] = str(tmp)      # Ray's files (sessions, address file) stay in tmp
    return dict(os.environ, PYTHONPATH=str(REPO), HOME=str(tmp / "home"))


def check(kill_after: int = 4, timeout_s: float = 240.0) -> tuple[list[tuple[str, str, bool]], dict]:
    """Run the scenario; returns (checks as (what, detail, ok), numbers)."""
    tmp = Path(tempfile.mkdtemp(prefix="rh-mn-", dir="/tmp"))
    (tmp / "home").mkdir()
    env = _env(tmp)
    from ray.cluster_utils import Cluster

    from harness.run.store import Store

    numbers: dict = {}
    started = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "num_gpus": 0, "include_dashboard": False,
        "object_store_memory": 128 * 2**20})
    worker = cluster.add_node(num_cpus=2, num_gpus=0, object_store_memory=128 * 2**20)
    cluster.wait_for_nodes()
    nodes = {"head": cluster.head_node.node_id, "worker": worker.node_id}
    numbers["cluster_start_s"] = round(time.perf_counter() - started, 1)
    grid, db = tmp / "grid.yaml", tmp / "r.duckdb"
    grid.write_text(GRID.format(tag=tmp.name))
    driver = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(grid), "--db", str(db),
                               "--address", cluster.address], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed_at, out = None, ""
    try:
        deadline = time.time() + timeout_s
        while driver.poll() is None and time.time() < deadline:
            time.sleep(0.5)
            if killed_at is None and db.exists():
                try:
                    done = sum(s == "complete" for s in Store(db, wait_s=0.5).trial_status().values())
                except Exception:  # noqa: BLE001 - the driver is writing; look again
                    continue
                if done >= kill_after:
                    cluster.remove_node(worker, allow_graceful=False)   # SIGKILL of its raylet etc.
                    killed_at = time.perf_counter() - started
        if driver.poll() is None:
            driver.kill()
        out = driver.communicate(timeout=30)[0]
    finally:
        numbers["run_s"] = round(time.perf_counter() - started, 1)
        cluster.shutdown()
    numbers["worker_killed_at_s"] = None if killed_at is None else round(killed_at, 1)
    numbers["exit_code"] = driver.returncode
    store = Store(db)
    rows = store.query("SELECT trial_id, method, variant, seed, k, status, attempts, error, "
                       "json_extract_string(extra, '$.node') AS node, started_at, finished_at "
                       "FROM trials")
    from harness.grid import expand, load_grid

    expected = {s.trial_id for s in expand(load_grid(grid))}
    name = {v: k for k, v in nodes.items()}
    rows["where"] = [name.get(n, "?") for n in rows.node]
    numbers["trials"] = len(expected)
    numbers["on_worker"] = int((rows["where"] == "worker").sum())
    numbers["on_head"] = int((rows["where"] == "head").sum())
    numbers["retried_after_node_death"] = int((rows.attempts > 1).sum())
    cross = 0
    for r in rows[(rows.variant == "use")].itertuples():
        built = rows[(rows.variant == "build") & (rows.seed == r.seed)]
        cross += bool(len(built)) and built["where"].iloc[0] != r.where
    numbers["use_trials_on_another_node_than_their_build"] = int(cross)
    checks = [
        ("driver exit code", f"{driver.returncode}", driver.returncode == 0),
        ("worker node killed mid-run", f"at {numbers['worker_killed_at_s']} s", killed_at is not None),
        ("every trial stored exactly once", f"{len(rows)} rows for {len(expected)} trials",
         sorted(rows.trial_id) == sorted(expected)),
        ("all complete", ", ".join(f"{k}: {v}" for k, v in rows.status.value_counts().items()),
         set(rows.status) == {"complete"}),
        ("trials ran on both nodes", f"head {numbers['on_head']}, worker {numbers['on_worker']}",
         numbers["on_head"] > 0 and numbers["on_worker"] > 0),
        ("use trials found their build's marker across nodes (shared HARNESS_CACHE_DIR)",
         f"{cross} of {int((rows.variant == 'use').sum())} on another node", cross > 0),
        ("phases held: each use started after its build finished", "",
         all((rows[(rows.variant == "use") & (rows.seed == s)]["started_at"] >=
              rows[(rows.variant == "build") & (rows.seed == s)]["finished_at"].max()).all()
             for s in range(4))),
    ]
    numbers["driver_tail"] = out.strip().splitlines()[-3:]
    shutil.rmtree(tmp, ignore_errors=True)
    return checks, numbers


def main() -> int:
    logging.getLogger("ray").setLevel(logging.ERROR)
    checks, numbers = check()
    width = max(len(c[0]) for c in checks)
    for what, detail, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {what:<{width}}  {detail}")
    for key, value in numbers.items():
        print(f"     {key}: {value}")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
