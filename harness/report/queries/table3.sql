-- Table 3: few-shot AUC x 100, each model trained on K samples of the domain it is tested on
-- (train_mix = eval_domain), test split. One row per trial (seed): the report takes the mean,
-- the standard deviation and the count per cell, and runs the t-tests on these rows.
-- with_config: a method run under two configurations in the report's scope (two base models,
-- learning rates...) becomes two columns, labelled by the fields that differ, never one.
SELECT domain_label(eval_domain) AS "Domain",
       k AS "K",
       with_config(method_label(method, variant), config_label) AS method,
       seed,
       auc * 100 AS auc,
       trial_id,
       eval_domain
FROM results
WHERE split = 'test'
  AND k IN (16, 64, 256)
  AND train_mix = eval_domain
  AND auc IS NOT NULL
  AND (is_baseline(method) OR (method = 'tallrec' AND variant = 'full'))
ORDER BY eval_domain DESC, k, method, seed
