-- The paper's published Table 3 (harness/report/paper_numbers.csv), keyed like table3.sql.
SELECT domain_label(eval_domain) AS "Domain",
       k AS "K",
       method_label(method, variant) AS method,
       auc_x100 AS value
FROM paper_numbers
WHERE source_table = 'Table 3'
