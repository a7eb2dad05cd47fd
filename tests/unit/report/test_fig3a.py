"""The `paper` report's Figure 3(a): zero-shot LLM baselines (both protocols) against TALLRec at
K = 64, with refusal and yes rates. Stores are written through the Store API with known rows."""
import pandas as pd
import pytest

from harness.core.metrics import metrics_from_predictions
from harness.core.spec import TrialSpec
from harness.report import load_spec, render_report
from harness.run.store import Store
from tests.store_rows import make_result

SMOL = {"name": "smollm2-135m"}


def _text_result(variant, seed, answers):
    """An icl text-protocol trial: `answers` per domain, a list of (label, 'yes'|'no'|'refused')."""
    params = {"protocol": "text"} if variant == "base" else {"lora": {}, "at": {}, "protocol": "text"}
    spec = TrialSpec(method="icl", variant=variant, seed=seed, model=SMOL, params=params)
    result = make_result(spec=spec, domains=())
    preds, score = {}, {}
    for domain, rows in answers.items():
        kept = [(i, lab, ans) for i, (lab, ans) in enumerate(rows) if ans != "refused"]
        preds[domain] = pd.DataFrame({"sample_id": [f"{domain}:{i}" for i, _, _ in kept],
                                      "label": [lab for _, lab, _ in kept],
                                      "score": [1.0 if a == "yes" else 0.0 for _, _, a in kept]})
        score[domain] = {"n": len(rows), "answered": len(kept), "refused": len(rows) - len(kept),
                         "yes": sum(a == "yes" for _, _, a in kept)}
    result.predictions, result.metrics = preds, metrics_from_predictions(preds, "test")
    result.extra = {"protocol": "text", "score": score}
    return result


def test_fig3a_bars_and_answer_rates(tmp_path):
    db = tmp_path / "s.duckdb"
    store = Store(db)
    run = store.begin_run("fig3a")
    # probability protocol: every sample scored
    for seed in (0, 1):
        store.write_result(make_result(spec=TrialSpec(method="icl", variant="base", seed=seed, model=SMOL),
                                       shift=0.2, n=40), run)
    # text protocol, base: movie answers 4 yes (2 right) + 1 no (right) + 5 refused; book all refused
    movie = [(1, "yes"), (1, "yes"), (0, "yes"), (0, "yes"), (0, "no")] + [(1, "refused")] * 5
    store.write_result(_text_result("base", 0, {"movie": movie, "book": [(1, "refused"), (0, "refused")]}), run)
    # text protocol, alpaca-lora: always yes (the paper's "always positive") -> AUC 0.5
    store.write_result(_text_result("alpaca-lora", 0, {"movie": [(1, "yes"), (0, "yes")] * 3,
                                                      "book": [(1, "yes"), (0, "yes")] * 3}), run)
    # TALLRec at K = 64 on each domain (in the figure), at K = 16 and RT (not)
    for mix in ("movie", "book"):
        for seed in (0, 1):
            store.write_result(make_result(method="tallrec", variant="full", train_mix=mix, k=64, seed=seed,
                                           shift=0.9, model=SMOL, n=40, domains=(mix,)), run)
        store.write_result(make_result(method="tallrec", variant="full", train_mix=mix, k=16, model=SMOL,
                                       domains=(mix,)), run)
        store.write_result(make_result(method="tallrec", variant="RT", train_mix=mix, k=64, model=SMOL,
                                       domains=(mix,)), run)
    out = render_report(db, load_spec("paper"), tmp_path / "out")
    secs = {r.section.key: r for r in out.sections}
    frame = secs["fig3a"].frame.set_index(["domain", "method"])
    assert set(frame.index.get_level_values("method")) == {
        "Base LLM · P(Yes)", "Base LLM · text", "Alpaca-LoRA · text", "TALLRec (K = 64)"}
    base_text = frame.loc[("Movie", "Base LLM · text")]
    # AUC of the 0/1 answers on the 5 answered samples: positives (1, 1), negatives (1, 1, 0):
    # of the 6 pairs, 2 won and 4 tied
    assert base_text["auc"] == pytest.approx(100 * (2 + 0.5 * 4) / 6)
    assert base_text["refusal_pct"] == pytest.approx(50.0) and base_text["scored"] == 5
    assert base_text["samples"] == 10 and base_text["yes_pct"] == pytest.approx(80.0)
    book_text = frame.loc[("Book", "Base LLM · text")]
    assert pd.isna(book_text["auc"]) and book_text["refusal_pct"] == 100.0 and book_text["scored"] == 0
    always = frame.loc[("Movie", "Alpaca-LoRA · text")]
    assert always["auc"] == pytest.approx(50.0) and always["yes_pct"] == 100.0 and always["refusal_pct"] == 0
    prob = frame.loc[("Movie", "Base LLM · P(Yes)")]
    assert prob["seeds"] == 2 and pd.isna(prob["refusal_pct"]) and prob["scored"] == prob["samples"] == 40
    tall = frame.loc[("Book", "TALLRec (K = 64)")]
    assert tall["seeds"] == 2 and tall["auc"] > 70       # K = 16 and RT left out
    assert (tmp_path / "out" / "fig3a.png").is_file()
    assert list(secs["fig3a_answers"].frame.columns)[:3] == ["domain", "method", "auc"]
