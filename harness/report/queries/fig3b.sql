-- Figure 3(b): AUC x 100 against K for AT, RT, TALLRec and the six baselines, per test domain,
-- trained on the test domain. Mean over seeds; the band is mean ± one standard deviation
-- (no band where one seed ran). A method that ignores K (zero-shot, K = 0) becomes a
-- horizontal line. One series per method and configuration (with_config: see table3.sql).
SELECT domain_label(eval_domain) AS domain,
       with_config(method_label(method, variant), config_label) AS method,
       k,
       avg(auc) * 100 AS auc,
       stddev_samp(auc) * 100 AS auc_sd,
       count(auc) AS seeds,
       (avg(auc) - stddev_samp(auc)) * 100 AS auc_lo,
       (avg(auc) + stddev_samp(auc)) * 100 AS auc_hi
FROM results
WHERE split = 'test'
  AND auc IS NOT NULL
  AND (train_mix = eval_domain OR train_mix IS NULL)
  AND ((method = 'tallrec' AND variant IN ('AT', 'RT', 'full')) OR is_baseline(method))
GROUP BY ALL
ORDER BY domain, method, k
