-- Reference points beside Table 3 (not in the paper): what a score gets without learning from
-- the K samples or without an LLM. The untuned LLM (`icl` base), `random`, `item-popularity`
-- (trained on K samples of the domain tested) and `history-like-rate` (the fraction of liked
-- items in the prompt's history: on a test split of few users, a pooled AUC rewards knowing
-- which users like most things). K = 0: the method ignores K. The metric (default AUC x 100), mean over seeds.
SELECT domain_label(eval_domain) AS "Domain",
       with_config(method_label(method, variant), config_label) AS method,
       k AS "K",
       avg(metric) AS value,
       stddev_samp(metric) AS value_sd,
       count(metric) AS seeds,
       string_agg(DISTINCT nullif(metric_note, ''), '; ') AS note
FROM results
WHERE split = 'test'
  AND (train_mix = eval_domain OR train_mix IS NULL)
  AND ((method = 'icl' AND variant = 'base') OR is_reference(method))
GROUP BY ALL
ORDER BY "Domain" DESC, method, "K"
