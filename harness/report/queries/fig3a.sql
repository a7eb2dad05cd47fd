-- Figure 3(a): every zero-shot LLM baseline in the store (`icl` base = the untuned model,
-- `icl` alpaca-lora = Alpaca-LoRA) under both scoring protocols, next to TALLRec at K = 64
-- trained on the domain tested. AUC x 100, mean over seeds (sd = one standard deviation).
--   P(Yes): TALLRec's evaluation, P("Yes") from the next-token logits, every sample scored.
--   text:   the paper's ICL protocol, a generated answer mapped to yes / no / refused; AUC on
--           the answered samples with the 0/1 answer as the score (trials.extra.score.<domain>).
-- yes_pct: answered "yes" (text) or P(Yes) > P(No) (P(Yes)), % of the scored samples;
-- refusal_pct: refused answers, % of all samples (text protocol only; the others score all).
WITH per_trial AS (
    SELECT t.trial_id, t.method, t.variant, t.seed, m.eval_domain, m.auc, m.n,
           -- the scope's configuration label (scope.py) minus the protocol, which is in the name
           -- (and minus `params=`, what an empty params block flattens to beside a set protocol)
           trim(regexp_replace(coalesce(t.config_label, ''), '(^|, )params(\.protocol)?=[^,]*', '', 'g'), ', ') AS cfg,
           CASE WHEN t.method = 'tallrec' THEN 'P(Yes)'
                WHEN coalesce(json_extract_string(t.config, '$.params.protocol'), 'probability') = 'text'
                THEN 'text' ELSE 'P(Yes)' END AS protocol,
           CAST(t.extra -> 'score' -> m.eval_domain ->> 'n' AS INTEGER) AS n_total,
           CAST(t.extra -> 'score' -> m.eval_domain ->> 'refused' AS INTEGER) AS refused,
           (SELECT avg(CAST(p.score > 0.5 AS DOUBLE)) FROM predictions p
             WHERE p.trial_id = t.trial_id AND p.eval_domain = m.eval_domain) AS yes_share
    FROM trials t JOIN metrics m USING (trial_id)
    WHERE t.status = 'complete' AND m.split = 'test'
      AND (t.method = 'icl'
           OR (t.method = 'tallrec' AND t.variant = 'full' AND t.k = 64 AND t.train_mix = m.eval_domain))
)
SELECT domain_label(eval_domain) AS domain,
       with_config(CASE WHEN method = 'tallrec' THEN 'TALLRec (K = 64)'
                        WHEN variant = 'alpaca-lora' THEN 'Alpaca-LoRA · ' || protocol
                        ELSE 'Base LLM · ' || protocol END, cfg) AS method,
       avg(auc) * 100 AS auc,
       stddev_samp(auc) * 100 AS auc_sd,
       count(*) AS seeds,
       count(auc) AS seeds_with_auc,
       avg(n) AS scored,
       avg(coalesce(n_total, n)) AS samples,
       avg(CASE WHEN protocol = 'text' THEN refused * 100.0 / nullif(n_total, 0) END) AS refusal_pct,
       avg(yes_share) * 100 AS yes_pct
FROM per_trial
GROUP BY ALL
ORDER BY domain DESC, method
