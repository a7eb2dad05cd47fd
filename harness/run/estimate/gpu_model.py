"""The estimate's assumptions (assumptions.yaml, or the user's): model sizes, and the GPU cost
model for LLM trials with no GPU trial stored: seconds = FLOPs / (peak x utilisation).

  training  (4 + 2 if gradient checkpointing) x N x tokens    (frozen base, LoRA; see the YAML)
  scoring   2 x N x tokens                                    (validation and test rows)
  tokens    rows x tokens_per_sample[domain] (x epochs for training); AT: records x epochs x
            tokens_per_alpaca_record
"""
from __future__ import annotations

from pathlib import Path

import yaml

from harness.core.errors import HarnessError
from harness.core.spec import TrialSpec
from harness.run.estimate.work import Work

DEFAULT = Path(__file__).with_name("assumptions.yaml")
_GPU_KEYS = ("device", "peak_tflops", "mfu_train", "mfu_score", "load_s", "tokens_per_sample",
             "tokens_per_alpaca_record", "epochs_run")


class GPUModel:
    def __init__(self, raw: dict, path: Path):
        self.path = path
        self.model_params = {str(k): float(v) for k, v in (raw.get("model_params") or {}).items()}
        self.gpu = dict(raw.get("gpu") or {})
        missing = [k for k in _GPU_KEYS if k not in self.gpu]
        if missing:
            raise HarnessError(f"{path}: gpu: missing {', '.join(missing)}")

    def model_ratio(self, new: str | None, old: str | None) -> float | None:
        """N(new) / N(old); 1 for the same model (or no model); None when a size is unknown."""
        if new == old:
            return 1.0
        if new in self.model_params and old in self.model_params:
            return self.model_params[new] / self.model_params[old]
        return None

    def params_of(self, name: str | None) -> float:
        if name not in self.model_params:
            raise HarnessError(f"the GPU cost model needs the size of model {name!r}: add it to "
                               f"model_params in {self.path}")
        return self.model_params[name]

    def phases(self, spec: TrialSpec, work: Work) -> tuple[dict[str, float], str]:
        g = self.gpu
        n = self.params_of(work.model)
        tok = {d: float(v) for d, v in g["tokens_per_sample"].items()}
        train_flop_per_token = (6.0 if (spec.model or {}).get("gradient_checkpointing") else 4.0) * n
        epochs_cfg = float((spec.params.get("training") or {}).get("epochs", 1))
        run = min(float(g["epochs_run"]), epochs_cfg) if g["epochs_run"] else epochs_cfg
        stop = run / epochs_cfg if work.train_examples else 0.0
        train_tokens = sum(rows * tok[d] for d, rows in work.train_rows.items()) * \
            (work.train_examples / max(sum(work.train_rows.values()), 1.0)) * stop
        valid_tok = sum(tok[d] for d in work.train_rows) / max(len(work.train_rows), 1)
        valid_tokens = work.valid_samples * valid_tok * stop
        score_tokens = sum(rows * tok[d] for d, rows in work.score_samples.items())
        at_tokens = work.at_records * float(g["tokens_per_alpaca_record"])
        flops_s_train = float(g["peak_tflops"]) * 1e12 * float(g["mfu_train"])
        flops_s_score = float(g["peak_tflops"]) * 1e12 * float(g["mfu_score"])
        phases = {"load_s": float(g["load_s"]),
                  "at_s": train_flop_per_token * at_tokens / flops_s_train,
                  "train_s": train_flop_per_token * train_tokens / flops_s_train,
                  "valid_score_s": 2 * n * valid_tokens / flops_s_score,
                  "score_s": 2 * n * score_tokens / flops_s_score}
        parts = [f"{train_flop_per_token / n:g}N x {(train_tokens + at_tokens) / 1e6:.3g}M train"
                 if train_tokens + at_tokens else "",
                 f"2N x {valid_tokens / 1e6:.3g}M valid" if valid_tokens else "",
                 f"2N x {score_tokens / 1e6:.3g}M test"]
        note = " + ".join(p for p in parts if p) + f" tokens, N={n / 1e9:.3g}B"
        if stop and stop < 1:
            note += f", {run:g} of {epochs_cfg:g} epochs"
        return {k: v for k, v in phases.items() if v > 0}, note

    def describe(self) -> list[tuple[str, str]]:
        g = self.gpu
        return [("GPU", str(g["device"])), ("peak", f"{g['peak_tflops']} TFLOP/s"),
                ("utilisation", f"train {g['mfu_train']}, score {g['mfu_score']}"),
                ("FLOPs", "train (4N, 6N with gradient checkpointing) x tokens; score 2N x tokens"),
                ("tokens/sample", ", ".join(f"{d} {v}" for d, v in g["tokens_per_sample"].items())
                 + f"; Alpaca record {g['tokens_per_alpaca_record']}"),
                ("model load", f"{g['load_s']} s per trial"),
                ("epochs run", "the grid's cap (no early stop: an upper bound)" if not g["epochs_run"]
                 else f"{g['epochs_run']} (assumed early stop)")]


def load_gpu_model(path: str | Path | None = None) -> GPUModel:
    path = Path(path) if path else DEFAULT
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise HarnessError(f"--assumptions: cannot read {path} ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise HarnessError(f"--assumptions: {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise HarnessError(f"--assumptions: {path} must be a mapping (model_params, gpu)")
    try:
        return GPUModel(raw, path)
    except (TypeError, ValueError) as exc:
        raise HarnessError(f"--assumptions: {path}: {exc}") from None
