"""Which trials a report covers, and which of them may be pooled.

A store holds many experiments (a demo grid, then a full run; two learning rates; two base
models). Before a spec's SQL runs, `apply_scope` replaces `trials` and `results` in the report's
connection with TEMP VIEWs over the chosen trials only, so every query of every spec is scoped
without being edited:

- `--run ID`: the trials that run planned or stored;
- `--grid NAME`: the same for every run of that grid name;
- default: the grid of the most recent run (the whole store when it holds no runs);
- `--all`: the whole store; `--where PREDICATE` then narrows any of these (over `trials` columns).

Both views gain `config_key` (a hash of the trial's spec minus method, variant, train mix, K and
seed) and `config_label` (the fields in which this configuration differs from the other
configurations of the same method and variant, e.g. `model.name=tiny-llama`; '' when there is
only one). Queries put the label into their series (`with_config(name, config_label)`), so two
configurations are never averaged as if they were seeds; `check_pooling` stops a section whose
groups still mix them.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from harness.report.spec import ReportError, one_line

# Fields that say which cell a trial belongs to (a section groups by them) or which repeat it is.
IDENTITY_FIELDS = ("method", "variant", "train_mix", "k", "seed")
MAX_LABEL_FIELDS = 3


@dataclass(frozen=True)
class ReportScope:
    grid: str | None = None
    run: str | None = None
    all: bool = False
    where: str | None = None


def config_key(spec_json: str, extra_json: str | None = None) -> tuple[str, dict]:
    """(short hash, flattened config) of a stored spec, identity fields left out, and the
    settings a grid's `protocol` chose for the trial's cell replaced by that protocol's source."""
    spec = json.loads(spec_json) if spec_json else {}
    rest = _cell_protocol({k: v for k, v in spec.items() if k not in IDENTITY_FIELDS}, extra_json)
    canon = json.dumps(rest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()[:12], flatten(rest)


def _cell_protocol(rest: dict, extra_json: str | None) -> dict:
    """Settings chosen per cell by a protocol search (`protocol: {from: ...}`; the trial's
    extra.protocol lists them) belong to the cell, as K does: a study's TALLRec at K=64 and at
    K=256 ran under one protocol with two learning rates, and is one configuration. They are
    dropped and the protocol's source put in their place, so two protocols stay apart."""
    try:   # a missing extra arrives as None or NaN
        proto = (json.loads(extra_json) or {}).get("protocol") if isinstance(extra_json, str) else None
    except (ValueError, AttributeError):
        return rest
    if not isinstance(proto, dict) or not isinstance(proto.get("settings"), list):
        return rest
    rest = copy.deepcopy(rest)
    for path in proto["settings"]:
        *parents, leaf = str(path).split(".")
        node = rest.get("params")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    rest["protocol"] = {"from": proto.get("from"), "search_grid": proto.get("search_grid")}
    return rest


def flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict) and value:
        out = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def differing(configs: list[dict]) -> list[str]:
    """Dotted paths whose values are not the same in every config."""
    paths = sorted({p for c in configs for p in c})
    missing = object()
    return [p for p in paths if len({json.dumps(c.get(p, missing), sort_keys=True, default=str)
                                     for c in configs}) > 1]


def _show(value) -> str:
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def labels(configs: dict[str, dict]) -> dict[str, str]:
    """config_key -> a short label naming the fields that differ ('' for a lone config)."""
    if len(configs) < 2:
        return {key: "" for key in configs}
    paths = [p for p in differing(list(configs.values())) if not _apart(p, configs)]
    if not paths:
        return {key: "" for key in configs}
    shown, more = paths[:MAX_LABEL_FIELDS], len(paths) - MAX_LABEL_FIELDS
    out = {}
    for key, flat in configs.items():
        text = ", ".join(f"{p}={_show(flat.get(p, 'unset'))}" for p in shown)
        # Fields past the cap are not shown; the hash keeps labels apart.
        out[key] = text + (f", +{more} more #{key[:6]}" if more > 0 else "")
    return out


def _apart(path: str, configs: dict[str, dict]) -> bool:
    """`eval.domains` lists that share no domain: every row of a report is one test domain, so
    such configurations never meet in a cell (a users split scored beside TALLRec's split) and
    need no label; overlapping lists keep it (two scorings of one domain must not pool)."""
    if path != "eval.domains":
        return False
    seen: set = set()
    for flat in configs.values():
        domains = flat.get(path)
        if not isinstance(domains, list) or seen & set(map(str, domains)):
            return False
        seen |= set(map(str, domains))
    return True


# -- which trials ---------------------------------------------------------------------------------
def _planned_ids(grid_json: str | None) -> set[str]:
    """The trial ids a run's grid expands to (a trial stored earlier by another run keeps that
    run's id in `trials.run_id`). Empty when the stored grid cannot be expanded any more."""
    try:
        from harness.grid import expand, parse_grid

        return {s.trial_id for s in expand(parse_grid(json.loads(grid_json)))}
    except Exception:  # noqa: BLE001 - an old or foreign grid: fall back to trials.run_id
        return set()


def _run_ids(con, db: str, scope: ReportScope) -> tuple[list, str] | None:
    """(runs rows, description), or None for the whole store."""
    runs = con.execute(f"SELECT run_id, name, grid_json FROM {db}.main.runs "
                       "ORDER BY started_at DESC NULLS LAST, run_id DESC").fetchall()
    if scope.run is not None:
        chosen = [r for r in runs if r[0] == scope.run]
        if not chosen:
            raise ReportError(f"--run {scope.run}: no such run in the store (runs: "
                              f"{', '.join(r[0] for r in runs[:5]) or 'none'}"
                              f"{', ...' if len(runs) > 5 else ''})")
        return chosen, f"run {scope.run}"
    name = scope.grid
    if name is None:
        if scope.all or not runs:
            return None
        name = runs[0][1]
    chosen = [r for r in runs if r[1] == name]
    if not chosen:
        names = list(dict.fromkeys(str(r[1]) for r in runs))
        raise ReportError(f"--grid {name}: no run of that grid in the store (grids: "
                          f"{', '.join(names) or 'none'})")
    return chosen, f"grid {name} ({len(chosen)} run{'s' if len(chosen) != 1 else ''})"


# The newline lets a condition end in a `--` comment without the comment eating the `)`.
_PROBE = "SELECT trial_id, method, variant, config, extra FROM temp.main._report_scope_base WHERE ({}\n)"


def check_predicate(where: str) -> str:
    """The scope probe's SQL with `where` as its WHERE clause, once DuckDB's own parser says it
    is one condition: the statement must parse as a single SELECT identical to the probe with
    `TRUE` in its place except for the WHERE clause (no quote trick, dollar-quoted string or
    comment can close the clause and add a UNION, another statement or a clause of its own)."""
    if not where.strip():
        raise ReportError("--where: empty; give one SQL condition, e.g. \"model = 'smollm2-135m'\"")
    sql = _PROBE.format(where)
    got, want = _parse(sql), _parse(_PROBE.format("TRUE"))
    if got.get("error"):
        raise ReportError(f"--where: not one SQL condition ({' '.join(str(got.get('error_message')).split())[:200]})")
    statements = got.get("statements") or []
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    if len(statements) != 1 or _shape(node) != _shape(want["statements"][0]["node"]):
        raise ReportError("--where: not one SQL condition (it would change the query around it); "
                          "give one condition, e.g. \"model = 'smollm2-135m'\"")
    return sql


def _parse(sql: str) -> dict:
    """DuckDB's parse tree of `sql` as JSON (nothing is run; an in-memory connection)."""
    con = duckdb.connect(config={"enable_external_access": False})
    try:
        return json.loads(con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()[0])
    except (duckdb.Error, ValueError, RecursionError) as exc:
        return {"error": True, "error_message": one_line(exc)}
    finally:
        con.close()


def _shape(node):
    """A parse tree minus its WHERE clause and source positions."""
    if isinstance(node, dict):
        return {k: _shape(v) for k, v in node.items()
                if k != "where_clause" and not k.startswith("query_location")}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return node


def apply_scope(con, scope: ReportScope | None = None) -> str:
    """Create the scoped TEMP VIEWs `trials` and `results`; returns a one-line description."""
    scope = scope or ReportScope()
    db = con.execute("SELECT current_database()").fetchone()[0]
    db = '"' + db.replace('"', '""') + '"'
    chosen = _run_ids(con, db, scope)
    base = f"SELECT * FROM {db}.main.trials"
    if chosen is not None:
        runs, text = chosen
        ids = set().union(*(_planned_ids(r[2]) for r in runs))
        stored = con.execute(f"SELECT trial_id FROM {db}.main.trials WHERE run_id IN "
                             f"(SELECT unnest(?))", [[r[0] for r in runs]]).fetchall()
        frame = pd.DataFrame({"trial_id": sorted(ids | {t for (t,) in stored})})
        con.register("_scope_ids_in", frame)
        con.execute("CREATE OR REPLACE TEMP TABLE _report_scope_ids AS "
                    "SELECT trial_id::VARCHAR AS trial_id FROM _scope_ids_in")
        con.unregister("_scope_ids_in")
        base += " WHERE trial_id IN (SELECT trial_id FROM temp.main._report_scope_ids)"
    else:
        text = "whole store"
    con.execute(f"CREATE OR REPLACE TEMP VIEW _report_scope_base AS {base}")
    probe = _PROBE.format("TRUE")
    if scope.where is not None:
        probe = check_predicate(scope.where)   # the very string that was parsed runs
        text += f" where {scope.where}"
    try:
        rows = con.execute(probe).df()
    except duckdb.Error as exc:
        raise ReportError(f"--where {scope.where!r}: {one_line(exc)}") from None
    _create_views(con, db, _config_frame(rows))
    con.register("_scope_text_in", pd.DataFrame({"scope": [text]}))
    con.execute("CREATE OR REPLACE TEMP TABLE _report_scope_text AS SELECT * FROM _scope_text_in")
    con.unregister("_scope_text_in")
    return text


def _config_frame(rows: pd.DataFrame) -> pd.DataFrame:
    keyed = [config_key(c, e) for c, e in zip(rows["config"], rows["extra"])]
    frame = rows[["trial_id", "method"]].assign(
        variant=rows["variant"].fillna("").astype(str),
        config_key=[k for k, _ in keyed], config_json=[json.dumps(f, default=str) for _, f in keyed])
    names: dict[tuple, str] = {}
    for (method, variant), group in frame.groupby(["method", "variant"]):
        flat = {k: json.loads(j) for k, j in zip(group["config_key"], group["config_json"])}
        names.update({(method, variant, k): text for k, text in labels(flat).items()})
    frame["config_label"] = [names[(m, v, k)] for m, v, k in
                             zip(frame["method"], frame["variant"], frame["config_key"])]
    return frame[["trial_id", "config_key", "config_label", "config_json"]]


def _create_views(con, db: str, configs: pd.DataFrame) -> None:
    con.register("_scope_configs_in", configs)
    # Typed casts: an empty frame's columns would otherwise come through as DOUBLE.
    con.execute("CREATE OR REPLACE TEMP TABLE _report_config AS SELECT trial_id::VARCHAR AS trial_id, "
                "config_key::VARCHAR AS config_key, config_label::VARCHAR AS config_label, "
                "config_json::VARCHAR AS config_json FROM _scope_configs_in")
    con.unregister("_scope_configs_in")
    con.execute("CREATE OR REPLACE TEMP VIEW trials AS SELECT t.*, c.config_key, c.config_label "
                "FROM temp.main._report_scope_base t JOIN temp.main._report_config c USING (trial_id)")
    # As the store's `results` view (harness/run/store.py), over the scoped trials.
    con.execute(
        "CREATE OR REPLACE TEMP VIEW results AS "
        "SELECT t.method, t.variant, t.train_mix, t.k, t.seed, m.eval_domain, m.split, m.auc, m.n, "
        "m.n_pos, t.model, t.wall_s, t.trial_id, t.run_id, t.device, t.finished_at, t.config_key, "
        f"t.config_label FROM temp.main.trials t JOIN {db}.main.metrics m USING (trial_id) "
        "WHERE t.status = 'complete'")
    con.execute("CREATE OR REPLACE TEMP MACRO with_config(name, label) AS CASE "
                "WHEN label IS NULL OR label = '' THEN name ELSE name || ' [' || label || ']' END")


def check_pooling(con, frame: pd.DataFrame, keys: list[str], where: str) -> None:
    """Stop when a group the section aggregates (rows with equal `keys`) mixes trials of
    different configurations. Needs a `trial_id` column; sections without one are skipped."""
    if not keys or "trial_id" not in frame.columns or frame.empty:
        return
    configs = con.execute("SELECT trial_id, config_key, config_json FROM temp.main._report_config").df()
    merged = frame[keys + ["trial_id"]].astype({"trial_id": str}).merge(configs, on="trial_id")
    for group, rows in merged.groupby(keys, dropna=False, sort=False):
        if rows["config_key"].nunique() > 1:
            flats = [json.loads(j) for j in rows.drop_duplicates("config_key")["config_json"]]
            cell = ", ".join(f"{k}={v}" for k, v in zip(keys, group if isinstance(group, tuple) else (group,)))
            raise ReportError(f"{where}: {cell} pools trials whose configurations differ in "
                              f"{', '.join(differing(flats))}; label them apart (with_config) or "
                              "narrow the report with --grid, --run or --where")
