"""Copy a trial's kept LoRA adapter out of a run directory, with a README of its spec and metrics.

Rec-tuned trials keep their adapter under <run dir>/adapters/<trial id>/ (grid `keep_adapters`,
on by default) and record its path, size and sha256s in `trials.extra.kept_adapter`; this module
reads that record without trusting it (a store can come from a shared dump): the folder must be
`adapters/<that trial's id>`, every file name a plain name inside it, and each file copied is
hashed as it is copied and compared with the record. Stores written before every file's sha256
was recorded (`files`) still export, checked on the weights file only, with a note saying so.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from pydantic import BaseModel, ConfigDict, ValidationError, constr

from harness.core.errors import HarnessError
from harness.core.spec import TrialSpec

_HEX = set("0123456789abcdef")
Sha256 = constr(pattern=r"^[0-9a-f]{64}$")


class KeptAdapter(BaseModel):
    """`trials.extra.kept_adapter` as models/adapters.py:keep_adapter writes it."""
    model_config = ConfigDict(extra="allow")
    path: str
    weights_file: str = "adapter_model.safetensors"
    sha256: Sha256
    files: Optional[Dict[str, Sha256]] = None   # absent in stores written before it was recorded


@dataclass
class Exported:
    trial_id: str
    label: str
    out_dir: Path
    files: list[str]
    bytes: int
    note: str | None = None


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


def kept_record(trial: dict) -> KeptAdapter:
    """The trial's adapter record, checked: its folder is `.../adapters/<trial id>` and every
    file it names is a plain name in that folder (no `..`, no separator)."""
    tid, spec = trial["trial_id"], trial["spec"]
    raw = trial["extra"].get("kept_adapter") if isinstance(trial["extra"], dict) else None
    if trial["status"] != "complete":
        raise HarnessError(f"trial {tid[:12]} ({spec.label()}) is {trial['status']}: it has no adapter to export")
    if not raw:
        raise HarnessError(f"trial {tid[:12]} ({spec.label()}) kept no adapter (only rec-tuned tallrec "
                           "RT / full trials run with grid keep_adapters: true keep one)")
    try:
        kept = KeptAdapter.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise HarnessError(f"trial {tid[:12]}: its kept_adapter record is not valid "
                           f"({'.'.join(map(str, first['loc']))}: {first['msg']})") from None
    src = Path(kept.path)
    if src.name != tid or src.parent.name != "adapters":
        raise HarnessError(f"trial {tid[:12]}: its kept_adapter path {kept.path} is not "
                           f"<run dir>/adapters/{tid[:12]}...; refusing to read it")
    for name in [kept.weights_file, *(kept.files or {})]:
        if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise HarnessError(f"trial {tid[:12]}: its kept_adapter names the file {name!r}, "
                               "which is not a plain file name in the adapter folder")
    if kept.files is not None and (kept.files.get(kept.weights_file) != kept.sha256
                                   or "adapter_config.json" not in kept.files):
        raise HarnessError(f"trial {tid[:12]}: its kept_adapter record lists no sha256 of "
                           f"adapter_config.json or a different one for {kept.weights_file}")
    return kept


def export_adapter(store, ref: str, out_dir: str | Path) -> Exported:
    trial = find_trial(store, ref)
    spec, tid = trial["spec"], trial["trial_id"]
    kept = kept_record(trial)
    src = Path(kept.path)
    if src.is_symlink() or not (src / "adapter_config.json").is_file() or \
            not (src / kept.weights_file).is_file():
        raise HarnessError(f"the kept adapter of trial {tid[:12]} is gone or incomplete: {src}")
    if kept.files is not None:
        wanted, note = dict(kept.files), None
    else:   # an older store: the weights file's sha256 is all that was recorded
        wanted = {p.name: None for p in sorted(src.iterdir()) if p.is_file() and not p.is_symlink()}
        wanted[kept.weights_file] = kept.sha256
        note = (f"this trial's record has only the weights file's sha256 (stored before every file "
                f"was hashed): {', '.join(n for n in wanted if n != kept.weights_file)} copied unchecked")
    out = _check_out(Path(out_dir).expanduser())
    tmp = _temp_folder(out)
    try:
        for name, digest in wanted.items():
            got = _copy_hashed(src / name, tmp / name, tid)
            if digest is not None and got != digest:
                raise HarnessError(f"the kept adapter of trial {tid[:12]} does not match its "
                                   f"recorded sha256: {src / name}")
        record = kept.model_dump(exclude_none=True)
        (tmp / "README.md").write_text(readme(trial, record, out.name), encoding="utf-8")
        (tmp / "trial.json").write_text(json.dumps(
            {"trial_id": tid, "spec": json.loads(spec.canonical_json()), "metrics": [dict(zip(
                ("eval_domain", "split", "auc", "n", "n_pos"), m)) for m in trial["metrics"]],
             "adapter": record}, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)   # mkdtemp makes it private
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise HarnessError(f"cannot export to {out}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sorted(p.name for p in out.iterdir())
    return Exported(tid, spec.label(), out, files, sum(p.stat().st_size for p in out.iterdir()), note)


def _check_out(out: Path) -> Path:
    """DIR must be a new path or an empty real folder (not a link, not a file)."""
    if out.is_symlink():
        raise HarnessError(f"{out} is a symbolic link; name a new folder (or the folder it points to)")
    try:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise HarnessError(f"{out} already exists and is not an empty directory")
    except OSError as exc:
        raise HarnessError(f"cannot export to {out}: {exc.strerror or exc}") from None
    return out


def _temp_folder(out: Path) -> Path:
    """A fresh folder beside DIR, renamed to DIR once complete (never a name a user may own)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise HarnessError(f"cannot export to {out}: {exc.strerror or exc}") from None


def _copy_hashed(source: Path, target: Path, tid: str) -> str:
    """Copy one regular file (not a link, not a FIFO), returning the sha256 of the bytes copied."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        raise HarnessError(f"the kept adapter of trial {tid[:12]} is gone or incomplete: "
                           f"{source} cannot be read as a file") from None
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh, open(target, "xb") as dst:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise HarnessError(f"the kept adapter of trial {tid[:12]}: {source} is not a regular file")
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            dst.write(block)
    return digest.hexdigest()


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

