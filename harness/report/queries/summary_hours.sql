-- Compute spent: device hours (wall time x one device per trial) by device kind and status.
SELECT device_kind(device) AS device,
       status,
       count(*) AS trials,
       sum(wall_s) / 3600 AS hours,
       avg(wall_s) AS mean_wall_s,
       max(wall_s) AS max_wall_s
FROM trials
GROUP BY ALL
ORDER BY device, status
