-- Coverage: completed seeds per method and (test domain, K), in-domain training (or
-- zero-shot, K = 0).
SELECT method_label(method, variant) AS method,
       domain_label(eval_domain) || CASE WHEN k = 0 THEN ' zero-shot' ELSE ' K=' || k END AS cell,
       count(DISTINCT seed) AS seeds
FROM results
WHERE split = 'test' AND (train_mix = eval_domain OR train_mix IS NULL)
GROUP BY ALL
