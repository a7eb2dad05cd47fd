"""A trial that Ray gives GPUs on a worker without CUDA fails with one line (never silently on
the CPU), unless its method declares it needs no CUDA."""
import pytest

pytest.importorskip("ray")
torch = pytest.importorskip("torch")

import tests.fixtures.methods  # noqa: E402,F401  registers test-gpu and test-logical-gpu
from harness.core.spec import TrialSpec  # noqa: E402
from harness.tune.worker import missing_cuda  # noqa: E402


def spec(method: str) -> TrialSpec:
    return TrialSpec(method=method, train_mix="movie", k=4, seed=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA case")
def test_gpu_trial_without_cuda_is_a_one_line_failure(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    result = missing_cuda(spec("test-gpu"), 1.0)
    assert result is not None and result.status == "failed" and "\n" not in result.error
    assert "given 1 GPU (CUDA_VISIBLE_DEVICES='0')" in result.error and "no usable CUDA" in result.error
    assert result.trial_id == spec("test-gpu").trial_id


def test_no_gpu_or_a_cuda_free_method_runs():
    assert missing_cuda(spec("test-gpu"), 0) is None
    assert missing_cuda(spec("test-logical-gpu"), 1.0) is None
