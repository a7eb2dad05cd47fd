"""The report's metric (`harness report --metric NAME`): its values as columns of `results`, and
the sections that show it titled, ranked and tested in its direction.

`apply_metric` adds to the scoped `results` view the columns `metric` (the value, shown scaled:
AUC and UAUC x 100, log loss as is), `metric_note` (why a value is missing, or for a per-user
metric how many users it counts) and `metric_users`. AUC is read from the stored metrics (what
run_trial computed with scikit-learn); any other metric is computed from the stored predictions.

A section is a metric section when its title holds `{metric}`: the placeholder (also in its
caption and axis labels) becomes the metric's name, a lower-is-better metric flips `best` and a
one-sided significance test, its bootstrap intervals resample that metric on the metric's scale,
and published numbers (AUC) are drawn over it only when the metric is AUC.
"""
from __future__ import annotations

import pandas as pd

from harness.core.metrics import Metric
from harness.report.spec import LineSection, TableSection

PLACEHOLDER = "{metric}"


def apply_metric(con, metric: Metric) -> None:
    """Replace the temp view `results` with the same rows plus the metric's columns."""
    con.execute("CREATE OR REPLACE TEMP TABLE _report_results AS SELECT * FROM results")
    if metric.name == "auc":
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _report_metric AS SELECT trial_id, eval_domain, split, "
            f"auc * {metric.scale!r} AS metric, CASE WHEN auc IS NULL THEN 'one class only' ELSE '' END "
            "AS metric_note, NULL::INTEGER AS metric_users FROM temp.main._report_results")
    else:
        _compute(con, metric)
    con.execute("CREATE OR REPLACE TEMP VIEW results AS SELECT r.*, x.metric, x.metric_note, x.metric_users "
                "FROM temp.main._report_results r LEFT JOIN temp.main._report_metric x "
                "USING (trial_id, eval_domain, split)")


def _compute(con, metric: Metric) -> None:
    preds = con.execute(
        f"SELECT p.trial_id, p.eval_domain, r.split, p.label, p.score, {user_column(con)} FROM predictions p "
        "JOIN (SELECT DISTINCT trial_id, eval_domain, split FROM temp.main._report_results) r "
        "USING (trial_id, eval_domain)").df()
    rows = []
    for (trial_id, domain, split), g in preds.groupby(["trial_id", "eval_domain", "split"], sort=False):
        v = metric.evaluate(g["label"].to_numpy(), g["score"].to_numpy(),
                            g["user_id"].to_numpy() if g["user_id"].notna().all() else None)
        rows.append({"trial_id": trial_id, "eval_domain": domain, "split": split,
                     "metric": None if v.value is None else v.value * metric.scale,
                     "metric_note": v.note, "metric_users": v.users})
    frame = pd.DataFrame(rows, columns=["trial_id", "eval_domain", "split", "metric", "metric_note",
                                        "metric_users"])
    con.register("_metric_in", frame)
    con.execute("CREATE OR REPLACE TEMP TABLE _report_metric AS SELECT trial_id::VARCHAR AS trial_id, "
                "eval_domain::VARCHAR AS eval_domain, split::VARCHAR AS split, metric::DOUBLE AS metric, "
                "metric_note::VARCHAR AS metric_note, metric_users::INTEGER AS metric_users FROM _metric_in")
    con.unregister("_metric_in")


def user_column(con) -> str:
    """`p.user_id`, or NULL where the store predates user ids (schema 1, opened read-only: a
    report never migrates; `harness store users` adds them)."""
    columns = con.execute("SELECT * FROM predictions LIMIT 0").df().columns
    return "p.user_id" if "user_id" in columns else "NULL::VARCHAR AS user_id"


def is_metric_section(section) -> bool:
    return PLACEHOLDER in section.title


def for_metric(section, metric: Metric):
    """The section as it reads for `metric` (unchanged when it is not a metric section)."""
    if not is_metric_section(section):
        return section
    update = {}
    for name in ("title", "caption", "xlabel", "ylabel"):
        text = getattr(section, name, None)
        if text:
            update[name] = text.replace(PLACEHOLDER, metric.shown)
    if isinstance(section, TableSection) and not metric.higher_is_better:
        if section.best:
            update["best"] = {"max": "min", "min": "max"}[section.best]
        if section.significance and section.significance.alternative != "two-sided":
            flipped = {"greater": "less", "less": "greater"}[section.significance.alternative]
            update["significance"] = section.significance.model_copy(update={"alternative": flipped})
    if isinstance(section, TableSection) and section.ci is not None and section.ci.scale is None:
        update["ci"] = section.ci.model_copy(update={"scale": metric.scale})
    if metric.name != "auc" and isinstance(section, (TableSection, LineSection)) and section.overlay:
        update["overlay"] = None     # the published numbers are AUC
    return section.model_copy(update=update)
