-- Published in-domain TALLRec numbers (Table 3: trained and tested on the same domain) over
-- Figure 4. The paper gives its cross-domain points only as a chart, so none are listed.
SELECT domain_label(eval_domain) AS domain,
       'Trained on ' || mix_label(train_mix) AS trained_on,
       k,
       auc_x100 AS value
FROM paper_numbers
WHERE source_table = 'Table 3' AND method = 'tallrec' AND variant = 'full'
