-- Figure 4: cross-domain generalisation. TALLRec (full) rec-tuned on K samples of Movie, of
-- Book, or of both, tested on each domain. Mean over seeds, band = mean ± one std.
-- One series per training mix and configuration (with_config: see table3.sql).
SELECT domain_label(eval_domain) AS domain,
       with_config('Trained on ' || mix_label(train_mix), config_label) AS trained_on,
       k,
       avg(auc) * 100 AS auc,
       stddev_samp(auc) * 100 AS auc_sd,
       count(auc) AS seeds,
       (avg(auc) - stddev_samp(auc)) * 100 AS auc_lo,
       (avg(auc) + stddev_samp(auc)) * 100 AS auc_hi
FROM results
WHERE split = 'test'
  AND auc IS NOT NULL
  AND method = 'tallrec' AND variant = 'full'
  AND train_mix IS NOT NULL AND k > 0
GROUP BY ALL
ORDER BY domain, trained_on, k
