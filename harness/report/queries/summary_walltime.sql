-- Wall time per completed trial by method and K: mean over trials, error bar = one std.
SELECT method_label(method, variant) AS method,
       'K = ' || k AS k_label,
       k,
       avg(wall_s) AS wall_s,
       stddev_samp(wall_s) AS wall_sd,
       count(*) AS trials
FROM trials
WHERE status = 'complete' AND wall_s IS NOT NULL
GROUP BY ALL
ORDER BY method, k
