-- Figure 3(b): the metric (default AUC x 100) against K for AT, RT, TALLRec and the six baselines, per test domain,
-- trained on the test domain. Mean over seeds; the band is mean ± one standard deviation
-- (no band where one seed ran). A method that ignores K (zero-shot, K = 0) becomes a
-- horizontal line. One series per method and configuration (with_config: see table3.sql).
SELECT domain_label(eval_domain) AS domain,
       with_config(method_label(method, variant), config_label) AS method,
       k,
       avg(metric) AS value,
       stddev_samp(metric) AS value_sd,
       count(metric) AS seeds,
       avg(metric) - stddev_samp(metric) AS value_lo,
       avg(metric) + stddev_samp(metric) AS value_hi,
       string_agg(DISTINCT nullif(metric_note, ''), '; ') AS note
FROM results
WHERE split = 'test'
  AND (train_mix = eval_domain OR train_mix IS NULL)
  AND ((method = 'tallrec' AND variant IN ('AT', 'RT', 'full')) OR is_baseline(method)
       OR is_added_method(method))   -- methods a grid registered (harness/report/added.py)
GROUP BY ALL
ORDER BY domain, method, k
