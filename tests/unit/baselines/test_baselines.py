"""The sequential baselines (baselines/_seqrec.py and the six model files): encoding, shapes,
the unknown item, determinism, the weight-decay search, the DROS term, bad inputs, and one run
on the real Movie data. The synthetic learnability check is in test_baselines_learn.py."""
import importlib

import numpy as np
import pandas as pd
import pytest
import torch

from baselines import _seqrec as S
from baselines import _text, _training
from data import trial as trial_data
from harness.core.config import BaselineConfig
from harness.core.context import TrialContext
from harness.core.errors import HarnessError
from harness.core.methods import METHODS
from harness.core.registry import UnknownName
from harness.core.spec import TrialSpec
from harness.core.trial import run_trial

NAMES = ("gru4rec", "caser", "sasrec", "dros", "gru-bert", "dros-bert")
ARCHS = {name: importlib.import_module("baselines." + name.replace("-", "_")).ARCH for name in NAMES}
TEXT_DIM = 8
SMALL = BaselineConfig(embedding_dim=16, hidden_size=16, epochs=6, patience=3, batch_size=32,
                       weight_decays=(1e-4, 1e-6), device="cpu")
SMALL_TEXT = S.TextModelConfig(text_hidden_size=16, text_num_layers=2)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: one thread is fastest on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synth_frame(n: int, n_items: int = 12, seed: int = 0, domain: str = "movie",
                min_len: int = 3, max_len: int = 10) -> pd.DataFrame:
    """Sample frames whose label is a function of the history: target liked in the history.

    Half the targets are drawn from the liked history items (label 1), half from the other items
    (label 0); histories have random lengths, so padding is exercised.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        length = int(rng.integers(min_len, max_len + 1))
        hist = rng.choice(n_items, size=length, replace=False)
        labels = rng.integers(0, 2, size=length)
        liked = sorted(set(hist[labels == 1].tolist()))
        if liked and rng.random() < 0.5:
            target = int(rng.choice(liked))
        else:
            target = int(rng.choice([x for x in range(n_items) if x not in liked]))
        rows.append({"sample_id": f"{domain}:synth{seed}:{i:05d}", "domain": domain, "split": "x",
                     "user_id": str(i), "history_item_ids": [f"i{x}" for x in hist],
                     "history_labels": [int(x) for x in labels], "target_item_id": f"i{target}",
                     "label": int(target in liked), "instruction": "", "input": "", "output": ""})
    return pd.DataFrame(rows)


def synth_text(n_items: int = 12, domains=("movie", "book"), dim: int = TEXT_DIM) -> S.TextTable:
    return S.TextTable.from_vectors({
        (d, f"i{i}"): np.random.default_rng(1000 * j + i).normal(size=dim).astype(np.float32)
        for j, d in enumerate(domains) for i in range(n_items)})


def fit_small(name, train, valid, seed=0, cfg=SMALL):
    text = synth_text() if ARCHS[name].text else None
    return S.fit(ARCHS[name], train, valid, cfg, seed, "cpu", text, SMALL_TEXT)


# ------------------------------------------------------------------------------------------
# encoding


def test_pad_history_repeats_the_last_item_and_label():
    assert S.pad_history(["a", "b"], [1, 0], 5) == (["a", "b", "b", "b", "b"], [1, 0, 0, 0, 0])
    items = [str(i) for i in range(12)]
    assert S.pad_history(items, [1] * 12, 10) == (items[-10:], [1] * 10)   # the most recent 10
    assert S.pad_history([], [], 4) == ([None] * 4, [0] * 4)
    with pytest.raises(ValueError):
        S.pad_history(["a"], [1, 0])


def test_vocab_is_keyed_by_domain_and_unknown_is_zero():
    frame = pd.DataFrame([
        {"domain": "movie", "history_item_ids": ["1", "2"], "history_labels": [1, 0],
         "target_item_id": "3", "label": 1},
        {"domain": "book", "history_item_ids": ["1"], "history_labels": [0],
         "target_item_id": "X", "label": 0}])
    vocab = S.ItemVocab.from_frame(frame)
    assert len(vocab) == 6                                   # 5 keys + unknown
    assert vocab.index(("movie", "1")) != vocab.index(("book", "1"))
    assert vocab.index(("movie", "nope")) == S.UNKNOWN == 0
    enc = S.encode(frame, vocab)
    assert enc.hist.shape == (2, S.HISTORY_LEN) and enc.hist_labels.shape == (2, S.HISTORY_LEN)
    assert enc.target.shape == (2,) and enc.labels.tolist() == [1.0, 0.0]
    m1, m2 = vocab.index(("movie", "1")), vocab.index(("movie", "2"))
    assert enc.hist[0].tolist() == [m1, m2] + [m2] * 8       # padded with the last item
    assert enc.hist_labels[0].tolist() == [1] + [0] * 9      # ... and its label
    assert enc.hist_text is None
    other = S.encode(frame.assign(domain="music"), vocab)      # nothing matches now
    assert (other.target == 0).all() and (other.hist == 0).all()


def test_text_rows_follow_the_text_table():
    frame = synth_frame(5)
    text = synth_text()
    enc = S.encode(frame, S.ItemVocab.from_frame(frame), text)
    assert enc.hist_text.shape == (5, S.HISTORY_LEN)
    assert enc.target_text[0] == text.index(("movie", frame.target_item_id[0])) > 0
    assert S.encode(frame.assign(domain="other"), S.ItemVocab([]), text).target_text.sum() == 0


# ------------------------------------------------------------------------------------------
# models


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_parameters(name):
    arch = ARCHS[name]
    frame = synth_frame(7)
    vocab = S.ItemVocab.from_frame(frame)
    text = synth_text() if arch.text else None
    dims = S.make_dims(arch, SMALL, SMALL_TEXT, vocab, text)
    model = S._build(arch, dims, seed=0)
    batch = S.encode(frame, vocab, text)
    scores, h = model(batch, return_hidden=True)
    assert scores.shape == (7,) and h.shape == (7, model.out_dim)
    assert model.all_item_scores(h).shape == (7, len(vocab) - 1)
    if arch.text_sized:          # the -BERT GRU is sized by TextModelConfig, not hidden_size
        assert model.gru.num_layers == 2 and model.gru.hidden_size == 16
        assert model.input_dim == SMALL.embedding_dim + TEXT_DIM
        assert "text" not in model.state_dict()              # frozen, never checkpointed
    else:
        assert model.input_dim == SMALL.embedding_dim
    # the forward score is the matching column of the all-items scores
    col = model.all_item_scores(h).gather(1, (batch.target - 1).unsqueeze(1)).squeeze(1)
    assert torch.allclose(col, scores, atol=1e-5)


def test_text_models_default_to_the_paper_size():
    cfg, text_cfg = S.baseline_config(TrialSpec(method="gru-bert", params={"baseline": {}}))
    assert (text_cfg.text_hidden_size, text_cfg.text_num_layers) == (1024, 4)
    assert cfg == BaselineConfig()
    cfg, text_cfg = S.baseline_config(TrialSpec(method="gru-bert", params={"baseline": {
        "text_hidden_size": 32, "text_num_layers": 1, "hidden_size": 8}}))
    assert (text_cfg.text_hidden_size, text_cfg.text_num_layers, cfg.hidden_size) == (32, 1, 8)
    with pytest.raises(Exception):
        S.baseline_config(TrialSpec(method="gru4rec", params={"baseline": {"hiden_size": 8}}))


@pytest.mark.parametrize("name", NAMES)
def test_unknown_items_share_one_embedding(name):
    train, valid = synth_frame(40, seed=1), synth_frame(20, seed=2)
    fitted = fit_small(name, train, valid)
    model = fitted.model
    # K-shot training never shows the unknown item: it stays "no information"
    assert torch.count_nonzero(model.item_in.weight[S.UNKNOWN]) == 0
    assert torch.count_nonzero(model.item_out.weight[S.UNKNOWN]) == 0
    # another domain: every history item and every target is unknown
    other = synth_frame(30, seed=3, domain="book")
    enc = fitted.encode(other)
    assert (enc.hist == S.UNKNOWN).all() and (enc.target == S.UNKNOWN).all()
    scores = fitted.score(other)
    assert scores.shape == (30,) and np.isfinite(scores).all()
    if ARCHS[name].text:
        assert np.ptp(scores) > 0          # text still tells unknown items apart
    else:
        assert np.ptp(scores) == 0         # one shared unknown target: one score (AUC 0.5)


@pytest.mark.parametrize("name", ["gru4rec", "sasrec", "dros-bert"])
def test_determinism_under_a_seed(name):
    train, valid, test = synth_frame(60, seed=4), synth_frame(30, seed=5), synth_frame(30, seed=6)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = fit_small(name, train, valid, seed=7)
    assert torch.equal(torch.rand(3), expected_next)     # the caller's RNG is left alone
    b = fit_small(name, train, valid, seed=7)
    c = fit_small(name, train, valid, seed=8)
    assert np.array_equal(a.score(test), b.score(test))
    assert a.extra() == b.extra()
    assert not np.array_equal(a.score(test), c.score(test))


def test_weight_decay_search_picks_by_validation_auc(monkeypatch):
    valid_aucs = {1e-3: 0.61, 1e-4: 0.75, 1e-5: 0.70, 1e-6: 0.75, 1e-7: 0.5}
    seen = []

    def fake_train_one(arch, dims, train, valid, cfg, wd, seed, device, dro=None, ps=None):
        seen.append((wd, len(train), len(valid)))
        model = S._build(arch, dims, seed)
        with torch.no_grad():
            model.global_bias.fill_(wd)                  # mark which run's state is kept
        return S.DecayRun(wd, valid_aucs[wd], best_epoch=int(wd * 1e7), epochs_run=3,
                          state=model.state_dict(), curve=[valid_aucs[wd]], seconds=0.0)

    monkeypatch.setattr(_training, "train_one", fake_train_one)   # where fit() looks it up
    train, valid = synth_frame(20, seed=1), synth_frame(10, seed=2)
    fitted = S.fit(ARCHS["gru4rec"], train, valid, BaselineConfig(embedding_dim=8, hidden_size=8), 0)
    assert [w for w, _, _ in seen] == list(BaselineConfig().weight_decays)
    assert all(n_train == 20 and n_valid == 10 for _, n_train, n_valid in seen)
    assert fitted.chosen.weight_decay == 1e-4            # best valid AUC; first of the tie
    assert fitted.model.global_bias.item() == pytest.approx(1e-4)
    extra = fitted.extra()
    assert extra["weight_decay"] == 1e-4 and extra["best_epoch"] == 1000
    assert extra["valid_auc_by_decay"] == {repr(w): a for w, a in valid_aucs.items()}


def test_early_stopping_keeps_the_best_epoch():
    train, valid = synth_frame(40, seed=1), synth_frame(20, seed=2)
    cfg = SMALL.model_copy(update={"epochs": 30, "patience": 2, "weight_decays": (1e-6,)})
    run = S.fit(ARCHS["gru4rec"], train, valid, cfg, 0).chosen
    assert run.best_metric == max(run.curve) and run.curve[run.best_epoch - 1] == run.best_metric
    assert run.epochs_run == len(run.curve) <= 30
    if run.epochs_run < 30:                               # stopped: `patience` epochs after the best
        assert run.epochs_run - run.best_epoch == 2


# ------------------------------------------------------------------------------------------
# DROS


def test_dro_term_matches_the_dros_formula():
    torch.manual_seed(0)
    scores = torch.randn(4, 6)
    target = torch.tensor([1, 3, 6, 2])                  # vocabulary ids (1..6)
    labels = torch.tensor([1.0, 0.0, 1.0, 1.0])
    ps = torch.rand(6) + 0.5
    beta = 0.7
    expected = []
    for i in range(4):                                   # DROS's code, one row at a time
        col = target[i] - 1
        inner = torch.exp(ps * scores[i] ** 2 / beta).sum()
        inner = inner - torch.exp(ps[col] * scores[i, col] ** 2 / beta)
        inner = inner + torch.exp(ps[col] * (scores[i, col] - labels[i]) ** 2 / beta)
        expected.append(torch.log(inner))
    got = S.dro_term(scores, target, labels, ps, beta)
    assert torch.allclose(got, torch.stack(expected).mean(), atol=1e-5)
    huge = S.dro_term(scores * 1e3, target, labels, ps, beta)   # no overflow
    assert torch.isfinite(huge)


def test_propensity_is_smoothed_popularity_to_the_005():
    enc = S.Encoded(hist=torch.zeros(3, 10, dtype=torch.long), hist_labels=torch.zeros(3, 10, dtype=torch.long),
                    target=torch.tensor([1, 1, 2]), labels=torch.ones(3))
    ps = S.propensity(enc, n_items=4)
    counts = torch.tensor([3.0, 2.0, 1.0])               # (count + 1) for items 1, 2, 3
    assert torch.allclose(ps, (counts / counts.sum()) ** 0.05)


# ------------------------------------------------------------------------------------------
# the method contract and bad inputs


def test_all_six_are_registered_and_an_unknown_name_lists_them():
    assert set(NAMES) <= set(METHODS.names())
    with pytest.raises(UnknownName) as err:
        METHODS.get("gru5rec")
    assert isinstance(err.value, HarnessError)
    for name in NAMES:
        assert name in str(err.value)


@pytest.fixture
def synthetic_data(monkeypatch):
    """trial_data served from synthetic frames: K-shot train, valid, both eval domains."""
    monkeypatch.setattr(trial_data, "train_samples", lambda spec, ctx: synth_frame(spec.k, seed=11))
    monkeypatch.setattr(trial_data, "valid_samples", lambda spec, ctx, n=None: synth_frame(24, seed=12))
    monkeypatch.setattr(trial_data, "eval_samples", lambda spec, ctx: {
        "movie": synth_frame(30, seed=13), "book": synth_frame(20, seed=14, domain="book")})


def _small_spec(name, k=32, eval=None, **baseline):
    block = {"embedding_dim": 8, "hidden_size": 8, "epochs": 3, "patience": 2,
             "weight_decays": [1e-5, 1e-6], "device": "cpu", **baseline}
    if ARCHS[name].text:
        block.setdefault("text_hidden_size", 8)
        block.setdefault("text_num_layers", 1)
    extra = {"eval": eval} if eval else {}
    return TrialSpec(method=name, train_mix="movie", k=k, seed=3, params={"baseline": block}, **extra)


@pytest.mark.parametrize("name", ["gru4rec", "caser", "sasrec", "dros"])
def test_run_trial_end_to_end(name, synthetic_data, tmp_path):
    result = run_trial(_small_spec(name), TrialContext(cache_dir=tmp_path))
    assert result.status == "complete", result.error
    assert {m.eval_domain for m in result.metrics} == {"movie", "book"}
    assert result.auc("book") == 0.5                      # all unknown: one shared score
    extra = result.extra
    assert extra["weight_decay"] in (1e-5, 1e-6) and extra["best_epoch"] >= 1
    assert set(extra["valid_auc_by_decay"]) == {"1e-05", "1e-06"}
    assert extra["unknown_target_rate"]["book"] == 1.0
    assert {"load_s", "train_s", "score_s"} <= set(result.timings)


def test_a_missing_encoder_path_is_one_clear_error(synthetic_data, tmp_path):
    with pytest.raises(HarnessError) as err:
        _text.resolve_encoder(str(tmp_path / "no-such-encoder"))
    message = str(err.value)
    assert "no-such-encoder" in message and "does not exist" in message and "\n" not in message
    with pytest.raises(HarnessError):
        _text.resolve_encoder("./relative/missing")
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(HarnessError, match="config.json"):
        _text.resolve_encoder(str(tmp_path / "not-a-model"))
    # through a trial: a failed result that says so (and no data or training was wasted)
    spec = _small_spec("gru-bert", encoder=str(tmp_path / "no-such-encoder"))
    result = run_trial(spec, TrialContext(cache_dir=tmp_path))
    assert result.status == "failed"
    assert "EncoderNotFound" in result.error and "no-such-encoder" in result.error


def test_cuda_requested_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(HarnessError, match="CUDA"):
        S.resolve_device("cuda")
    assert S.resolve_device("auto").type == "cpu"
    assert S.resolve_device("auto", "cpu").type == "cpu"


def test_fit_refuses_empty_inputs():
    frame = synth_frame(5)
    with pytest.raises(ValueError, match="no training samples"):
        S.fit(ARCHS["gru4rec"], frame.head(0), frame, SMALL, 0)
    with pytest.raises(ValueError, match="no validation samples"):
        S.fit(ARCHS["gru4rec"], frame, frame.head(0), SMALL, 0)


# ------------------------------------------------------------------------------------------
# text embeddings (the embedded MiniLM encoder)


def test_text_embeddings_are_cached_per_encoder_and_domain(tmp_path, monkeypatch):
    texts = {"1": "Toy Story (1995)", "2": "GoldenEye (1995)", "3": "Heat (1995)"}
    first = _text.item_embeddings("minilm", "movie", texts, tmp_path)
    assert set(first) == set(texts) and first["1"].shape == (384,)
    files = list((tmp_path / "text_embeddings").glob("minilm-*/movie.npz"))
    assert len(files) == 1

    class NoEncoder:
        def __init__(self, *a, **k):
            raise AssertionError("the cache should have answered")

    monkeypatch.setattr(_text, "TextEncoder", NoEncoder)
    again = _text.item_embeddings("minilm", "movie", {"2": texts["2"]}, tmp_path)
    assert np.array_equal(again["2"], first["2"])
    with pytest.raises(AssertionError):                   # a changed text is embedded again
        _text.item_embeddings("minilm", "movie", {"2": "GoldenEye"}, tmp_path)
    monkeypatch.undo()
    both = _text.item_embeddings("minilm", "movie", {"2": "GoldenEye", "4": "Heat (1995)"}, tmp_path)
    assert np.allclose(both["4"], first["3"], atol=1e-5)  # same text, same vector
    assert not np.allclose(both["2"], first["2"])


# ------------------------------------------------------------------------------------------
# real data


def test_gru4rec_and_gru_bert_on_the_real_movie_data(raw_dir, cache_dir, tmp_path):
    if not (raw_dir / "ml-100k" / "u.data").is_file():
        pytest.skip(f"MovieLens-100K not found under {raw_dir}")
    (tmp_path / "data").symlink_to(cache_dir)     # the session's data cache; our own text cache
    ctx = TrialContext(raw_dir=str(raw_dir), cache_dir=tmp_path)
    for name in ("gru4rec", "gru-bert"):
        spec = _small_spec(name, k=16, valid_max_samples=100,
                           eval={"domains": ["movie"], "split": "test", "max_samples": 100})
        result = run_trial(spec, ctx)
        assert result.status == "complete", result.error
        m = result.metrics[0]
        assert m.eval_domain == "movie" and m.n == 100 and 0.0 <= m.auc <= 1.0
        assert result.extra["n_train"] == 16 and result.extra["n_valid"] == 100
        assert 0.0 < result.extra["unknown_target_rate"]["movie"] < 1.0
