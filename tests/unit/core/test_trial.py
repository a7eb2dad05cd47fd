import pytest

from harness.core.context import TrialContext
from harness.core.methods import METHODS
from harness.core.spec import TrialSpec
from harness.core.metrics import compute_auc
from harness.core.trial import run_trial


@pytest.fixture(autouse=True, scope="module")
def fake_methods():
    for name in ("perfect", "crash", "missing_domain"):
        METHODS.register(f"test-{name}", f"tests.fixtures.fake_methods:{name}")


def test_auc_is_computed_from_returned_scores(tmp_path):
    spec = TrialSpec(method="test-perfect", train_mix="movie", k=4)
    result = run_trial(spec, TrialContext(cache_dir=tmp_path))
    assert result.status == "complete", result.error
    assert result.trial_id == spec.trial_id
    assert {m.eval_domain for m in result.metrics} == {"movie", "book"}
    assert all(m.auc == 1.0 and m.n == 20 and m.n_pos == 10 for m in result.metrics)
    assert result.versions["python"] and result.host and result.device
    assert result.finished_at >= result.started_at


def test_a_crashing_method_becomes_a_failed_result(tmp_path):
    result = run_trial(TrialSpec(method="test-crash", seed=7), TrialContext(cache_dir=tmp_path))
    assert result.status == "failed"
    assert "deliberate failure for seed 7" in result.error
    assert result.metrics == [] and result.predictions == {}


def test_missing_domain_and_unknown_method_fail_cleanly(tmp_path):
    r = run_trial(TrialSpec(method="test-missing_domain"), TrialContext(cache_dir=tmp_path))
    assert r.status == "failed" and "no scores for ['book']" in r.error
    r = run_trial(TrialSpec(method="nope"), TrialContext(cache_dir=tmp_path))
    assert r.status == "failed" and "unknown method 'nope'" in r.error


def test_compute_auc_single_class_is_undefined():
    assert compute_auc([1, 1, 1], [0.2, 0.5, 0.9]) is None
    assert compute_auc([0, 1], [0.2, 0.9]) == 1.0
