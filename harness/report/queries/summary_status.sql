-- Trials by status per method (all runs in the store); the last row is the total.
SELECT coalesce(method_label(method, variant), 'all methods') AS method,
       count(*) FILTER (WHERE status = 'complete') AS complete,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status NOT IN ('complete', 'failed')) AS other,
       count(*) AS total,
       CAST(sum(attempts) - count(*) AS INTEGER) AS retries
FROM trials
GROUP BY GROUPING SETS ((method_label(method, variant)), ())
ORDER BY grouping(method_label(method, variant)), method
