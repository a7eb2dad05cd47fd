-- The search's objective against each explored setting: one row per (search trial, setting) of
-- the trials that finished (stopped ones have no final objective). `position` places the value
-- among the finished trials' values of that setting (0 = lowest, 1 = highest; on a log scale
-- where the values span more than 10x), so panels of different units share one x axis; the table
-- above has the values themselves.
WITH points AS (
    SELECT s.cell, key AS setting, s.objective,
           CAST(json_extract(s.settings, '$."' || key || '"') AS DOUBLE) AS value
    FROM search_trials s, unnest(json_keys(s.settings)) AS t(key)
    WHERE s.objective IS NOT NULL
), scaled AS (
    SELECT *, CASE WHEN min(value) OVER w > 0 AND max(value) OVER w > 10 * min(value) OVER w
                   THEN ln(value) ELSE value END AS v
    FROM points WINDOW w AS (PARTITION BY setting)
)
SELECT cell, setting, value, objective,
       coalesce((v - min(v) OVER w) / nullif(max(v) OVER w - min(v) OVER w, 0), 0.5) AS position
FROM scaled WINDOW w AS (PARTITION BY setting)
ORDER BY setting, cell, value
