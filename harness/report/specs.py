"""The registry of report specs: built-in YAML files in `harness/report/specs/` by file stem
(`paper.yaml` -> `paper`), plus any a user registers; `load_spec` also takes a path."""
from __future__ import annotations

from pathlib import Path

import yaml

from harness.core.registry import Registry
from harness.report.spec import ReportError, ReportSpec, parse_spec

BUILTIN_SPECS = Path(__file__).parent / "specs"


def _discover() -> dict[str, str]:
    return {p.stem: str(p) for p in sorted(BUILTIN_SPECS.glob("*.yaml"))}


# Targets are paths to YAML files (never imported); Registry gives the names, the lookup and
# the "unknown report spec 'x'; registered: ..." error.
REPORT_SPECS = Registry("report spec", discover=_discover)


def register_spec(name: str, path: str | Path) -> None:
    REPORT_SPECS.register(name, str(Path(path).resolve()))


def spec_names() -> list[str]:
    return REPORT_SPECS.names()


def load_spec(name_or_path: str | Path, _seen: tuple = ()) -> ReportSpec:
    """A registered spec by name, or a spec file by path (anything ending .yaml/.yml or an
    existing file). A spec with `extends: NAME|PATH` adds its sections to that spec's."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    if text.endswith((".yaml", ".yml")) or candidate.is_file() or "/" in text:
        if not candidate.is_file():
            raise ReportError(f"report spec file {text} not found")
        path = candidate
    else:
        path = Path(REPORT_SPECS.target(text))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReportError(f"report spec {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    except UnicodeDecodeError as exc:
        raise ReportError(f"report spec {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                          "save it as UTF-8") from None
    except RecursionError:
        raise ReportError(f"report spec {path} is nested too deeply to be a report spec") from None
    except OSError as exc:
        raise ReportError(f"cannot read report spec {path}: {exc.strerror or exc}") from None
    if isinstance(data, dict) and data.get("extends"):
        data = _extend(data, path, _seen)
    try:
        return parse_spec(data, base_dir=path.parent.resolve(), origin=f"report spec {path}")
    except RecursionError:
        raise ReportError(f"report spec {path} is nested too deeply to be a report spec") from None


def _extend(data: dict, path: Path, seen: tuple) -> dict:
    """`extends: paper` (a name or a path): the base's setup, styles and sections come first,
    with their SQL read in, so the new spec only adds sections (and may override styles)."""
    data = dict(data)
    base_ref = str(data.pop("extends"))
    if str(path.resolve()) in seen:
        raise ReportError(f"report spec {path} extends itself (through {base_ref!r})")
    ref = base_ref
    if ("/" in ref or ref.endswith((".yaml", ".yml"))) and not Path(ref).is_absolute():
        ref = str(path.parent / ref)
    base = load_spec(ref, _seen=seen + (str(path.resolve()),))
    sections = []
    for section in base.sections:
        update = {"sql": base.resolve_sql(section, f"section {section.key!r}"), "query": None}
        if section.overlay is not None:
            update["overlay"] = section.overlay.model_copy(
                update={"sql": base.resolve_sql(section.overlay, f"section {section.key!r} overlay"), "query": None})
        sections.append(section.model_copy(update=update).model_dump(exclude_none=True, mode="json"))
    own_setup = data.get("setup")
    own_setup = [own_setup] if isinstance(own_setup, str) else list(own_setup or [])
    data["setup"] = base.setup_sql() + own_setup
    data["styles"] = {**{k: v.model_dump(exclude_none=True) for k, v in base.styles.items()},
                      **(data.get("styles") or {})}
    data["sections"] = sections + list(data.get("sections") or [])
    data.setdefault("description", base.description)
    return data
