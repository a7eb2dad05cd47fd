-- Trials that did not complete, with the last line of their error (the exception and its
-- message; the full traceback is in trials.error).
SELECT method_label(method, variant) AS method,
       train_mix,
       k AS "K",
       seed,
       attempts,
       left(trial_id, 12) AS trial,
       left(regexp_extract(trim(coalesce(error, '')), '[^\n]*$'), 300) AS error
FROM trials
WHERE status <> 'complete'
ORDER BY method, train_mix, k, seed
