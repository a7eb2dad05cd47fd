-- Published TALLRec numbers (Table 3) drawn over Figure 3(b).
SELECT domain_label(eval_domain) AS domain,
       method_label(method, variant) AS method,
       k,
       auc_x100 AS value
FROM paper_numbers
WHERE source_table = 'Table 3' AND train_mix = eval_domain
  AND method = 'tallrec'   -- the baselines' published cells clutter the chart; Table 3 has them
