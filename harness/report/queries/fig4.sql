-- Figure 4: cross-domain generalisation. TALLRec (full) rec-tuned on K samples of Movie, of
-- Book, or of both, tested on each domain; the metric (default AUC x 100). Mean over seeds, band = mean ± one std.
-- One series per training mix and configuration (with_config: see table3.sql).
SELECT domain_label(eval_domain) AS domain,
       with_config('Trained on ' || mix_label(train_mix), config_label) AS trained_on,
       k,
       avg(metric) AS value,
       stddev_samp(metric) AS value_sd,
       count(metric) AS seeds,
       avg(metric) - stddev_samp(metric) AS value_lo,
       avg(metric) + stddev_samp(metric) AS value_hi,
       string_agg(DISTINCT nullif(metric_note, ''), '; ') AS note
FROM results
WHERE split = 'test'
  AND method = 'tallrec' AND variant = 'full'
  AND train_mix IS NOT NULL AND k > 0
GROUP BY ALL
ORDER BY domain, trained_on, k
