-- Every trial of every protocol search (`harness search`): its cell, the settings it drew, the
-- validation objective of its final adapter, how many validation passes it reported to Tune,
-- whether ASHA stopped it early, and which trial each cell chose.
SELECT s.run_id AS search_run, s.cell, s.metric || ' (' || s.mode || ')' AS objective_metric,
       round(s.objective, 4) AS objective, s.status, s.passes,
       CASE WHEN s.chosen THEN 'chosen' ELSE '' END AS chosen,
       replace(replace(replace(CAST(s.settings AS VARCHAR), '{', ''), '}', ''), '"', '') AS settings
FROM search_trials s
ORDER BY s.run_id, s.cell, s.objective DESC NULLS LAST, s.tune_trial
