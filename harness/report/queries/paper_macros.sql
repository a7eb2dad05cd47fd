-- Setup for the `paper` report: display names and method groups shared by its queries.
-- is_baseline and is_reference list harness.report.paper_baselines.PAPER_BASELINES and
-- REFERENCE_METHODS (tests/unit/report/test_paper_baselines.py).
-- (Temporary macros: they live in the report's read-only connection only.)
CREATE OR REPLACE TEMP MACRO method_label(m, v) AS CASE
    WHEN m = 'tallrec' AND v = 'full' THEN 'TALLRec'
    WHEN m = 'tallrec' THEN coalesce(v, 'tallrec')          -- AT, RT
    WHEN m = 'gru4rec' THEN 'GRU4Rec'
    WHEN m = 'caser' THEN 'Caser'
    WHEN m = 'sasrec' THEN 'SASRec'
    WHEN m = 'dros' THEN 'DROS'
    WHEN m = 'gru-bert' THEN 'GRU-BERT'
    WHEN m = 'dros-bert' THEN 'DROS-BERT'
    WHEN m = 'icl' THEN 'ICL (' || coalesce(v, '?') || ')'
    WHEN m = 'random' THEN 'Random'
    WHEN m = 'item-popularity' THEN 'Item popularity'
    WHEN m = 'history-like-rate' THEN 'History like-rate'
    ELSE m || coalesce(' ' || v, '')
END;
CREATE OR REPLACE TEMP MACRO is_baseline(m) AS
    m IN ('gru4rec', 'caser', 'sasrec', 'dros', 'gru-bert', 'dros-bert');
CREATE OR REPLACE TEMP MACRO is_reference(m) AS
    m IN ('random', 'item-popularity', 'history-like-rate');
-- domain_label(d) and mix_label(t) are made from the dataset registry before this file runs
-- (harness.report.sql.label_macros).
-- trials.device is e.g. "cuda:0 NVIDIA H100 80GB HBM3" or "cpu (x86_64)"; empty where a trial
-- died before it reported one.
CREATE OR REPLACE TEMP MACRO device_kind(d) AS CASE
    WHEN d IS NULL OR trim(d) = '' THEN 'unknown'
    WHEN d ILIKE '%cuda%' OR d ILIKE '%gpu%' OR d ILIKE 'mps%' THEN 'GPU' ELSE 'CPU' END;
