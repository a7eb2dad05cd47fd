"""Copy a trial's kept LoRA adapter out of a run directory, with a README of its spec and metrics.

Rec-tuned trials keep their adapter under <run dir>/adapters/<trial id>/ (grid `keep_adapters`,
on by default) and record its path, size and sha256 in `trials.extra.kept_adapter`; this module
reads that record, checks the files still match it, and copies them to a new directory.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.spec import TrialSpec

_HEX = set("0123456789abcdef")


@dataclass
class Exported:
    trial_id: str
    label: str
    out_dir: Path
    files: list[str]
    bytes: int


def find_trial(store, ref: str) -> dict:
    """The stored trial whose id is `ref` or starts with it (at least 6 hex characters)."""
    ref = ref.strip().lower()
    if len(ref) < 6 or not set(ref) <= _HEX:
        raise HarnessError(f"{ref!r} is not a trial id (give the id or its first 6+ hex characters)")
    with store.reader() as con:
        rows = con.execute("SELECT trial_id, status, config, extra FROM trials WHERE trial_id LIKE ? "
                           "ORDER BY trial_id LIMIT 3", [ref + "%"]).fetchall()
        if len(rows) == 1:
            metrics = con.execute("SELECT eval_domain, split, auc, n, n_pos FROM metrics WHERE trial_id = ? "
                                  "ORDER BY eval_domain, split", [rows[0][0]]).fetchall()
    if not rows:
        raise HarnessError(f"no trial {ref} in {store.path}")
    if len(rows) > 1:
        raise HarnessError(f"trial id prefix {ref} is ambiguous in {store.path} "
                           f"({', '.join(r[0][:12] for r in rows)}...): give more characters")
    trial_id, status, config, extra = rows[0]
    return {"trial_id": trial_id, "status": status, "spec": TrialSpec.from_json(config),
            "extra": json.loads(extra or "{}"), "metrics": metrics}


def export_adapter(store, ref: str, out_dir: str | Path) -> Exported:
    trial = find_trial(store, ref)
    spec, tid = trial["spec"], trial["trial_id"]
    kept = trial["extra"].get("kept_adapter")
    if trial["status"] != "complete":
        raise HarnessError(f"trial {tid[:12]} ({spec.label()}) is {trial['status']}: it has no adapter to export")
    if not kept:
        raise HarnessError(f"trial {tid[:12]} ({spec.label()}) kept no adapter (only rec-tuned tallrec "
                           "RT / full trials run with grid keep_adapters: true keep one)")
    src = Path(kept["path"])
    weights = src / kept.get("weights_file", "adapter_model.safetensors")
    if not (src / "adapter_config.json").is_file() or not weights.is_file():
        raise HarnessError(f"the kept adapter of trial {tid[:12]} is gone or incomplete: {src}")
    if _sha256(weights) != kept["sha256"]:
        raise HarnessError(f"the kept adapter of trial {tid[:12]} does not match its recorded sha256: {weights}")
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise HarnessError(f"{out} already exists and is not an empty directory")
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(src, partial)
    (partial / "README.md").write_text(readme(trial, kept, out.name), encoding="utf-8")
    (partial / "trial.json").write_text(json.dumps(
        {"trial_id": tid, "spec": json.loads(spec.canonical_json()), "metrics": [dict(zip(
            ("eval_domain", "split", "auc", "n", "n_pos"), m)) for m in trial["metrics"]],
         "adapter": kept}, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        out.rmdir()
    partial.rename(out)
    files = sorted(p.name for p in out.iterdir())
    return Exported(tid, spec.label(), out, files, sum(p.stat().st_size for p in out.iterdir()))


def readme(trial: dict, kept: dict, folder: str) -> str:
    spec, extra = trial["spec"], trial["extra"]
    base = (spec.model or {}).get("name", "smollm2-135m")
    alias = " (the harness alias of SmolLM2-135M-Instruct, docs/models.md)" if base == "smollm2-135m" else ""
    template = (spec.model or {}).get("template", "alpaca")
    rows = "\n".join(f"| {d} | {s} | {'' if a is None else f'{a:.4f}'} | {n} | {p} |"
                     for d, s, a, n, p in trial["metrics"])
    training = {k: extra[k] for k in ("best_valid_auc", "best_step", "global_step", "epochs", "tokens_seen",
                                      "final_loss", "lora_B_norm") if k in extra}
    return f"""# LoRA adapter of trial {spec.label()}

Trial id `{trial['trial_id']}` (sha256 of the spec below), exported by `harness export` from
the tallrec-harness results store. A standard PEFT folder: `adapter_config.json` and
`{kept.get('weights_file', 'adapter_model.safetensors')}` (sha256 `{kept['sha256']}`).

## Load it

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM

base = AutoModelForCausalLM.from_pretrained(BASE)   # the base model below, as the harness loaded it
model = PeftModel.from_pretrained(base, "{folder}")
```

Base model (`spec.model`): `{base}`{alias}. Prompts: the `{template}` template
(data/prompts.py); the score is P("Yes") from the next-token logits (models/scoring.py).

## Metrics (AUC on the stored predictions)

| eval domain | split | AUC | n | positives |
|---|---|---|---|---|
{rows}

Training: `{json.dumps(training)}`

## Spec

```json
{json.dumps(json.loads(spec.canonical_json()), indent=2, sort_keys=True)}
```
"""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
