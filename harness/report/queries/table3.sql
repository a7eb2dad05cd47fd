-- Table 3: the few-shot metric (`harness report --metric`, default AUC x 100), each model
-- trained on K samples of the domain it is tested on (train_mix = eval_domain), test split. One
-- row per trial (seed): the report takes the mean, the standard deviation and the count per
-- cell, and runs the t-tests on these rows. A trial whose metric is undefined (one class only,
-- no user with both labels) keeps its row with an empty value and the reason in `note`.
-- with_config: a method run under two configurations in the report's scope (two base models,
-- learning rates...) becomes two columns, labelled by the fields that differ, never one.
SELECT domain_label(eval_domain) AS "Domain",
       k AS "K",
       with_config(method_label(method, variant), config_label) AS method,
       seed,
       metric AS value,
       metric_note AS note,
       trial_id,
       eval_domain
FROM results
WHERE split = 'test'
  AND k IN (16, 64, 256)
  AND train_mix = eval_domain
  AND (is_baseline(method) OR (method = 'tallrec' AND variant = 'full')
       OR is_added_method(method))   -- methods a grid registered (harness/report/added.py)
ORDER BY eval_domain DESC, k, method, seed
