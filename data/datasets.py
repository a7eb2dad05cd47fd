"""Which plugin builds a domain: a dataset declared in the grid (``DataSpec.datasets``, built by
``data.explicit``), else the registered one (``harness.core.datasets.DATASETS``)."""
from __future__ import annotations

from harness.core.datasets import DATASETS, DatasetConfig, dataset_names
from harness.core.errors import HarnessError

_DECLARED: dict[tuple[str, str], object] = {}
# The last declared config used under each name in this process: code that reads a trial's items
# without its spec (baselines/_text.py: load_items(domain)) finds the dataset the trial just loaded.
_LAST: dict[str, DatasetConfig] = {}


class UnknownDataset(HarnessError):
    pass


def plugin(domain: str, declared=None):
    """The dataset plugin of ``domain``; ``declared``: {name: DatasetConfig or its dump}."""
    declared = declared or {}
    if domain not in declared and domain not in DATASETS and domain in _LAST:
        declared = {domain: _LAST[domain]}
    if domain in declared:
        config = declared[domain]
        if not isinstance(config, DatasetConfig):
            config = DatasetConfig.model_validate(config)
        key = (domain, config.model_dump_json())
        if key not in _DECLARED:
            from data.explicit import ExplicitDataset

            _DECLARED[key] = ExplicitDataset(domain, config)
        _LAST[domain] = config
        return _DECLARED[key]
    if domain not in DATASETS:
        extra = f"; declared in this grid: {', '.join(sorted(declared))}" if declared else ""
        raise UnknownDataset(f"unknown dataset {domain!r}; registered: {', '.join(dataset_names())}{extra} "
                             "(declare others under `datasets:` in the grid)")
    return DATASETS.get(domain)


def names(declared=None) -> list[str]:
    """Registered datasets, then the declared ones."""
    return dataset_names() + sorted(n for n in (declared or {}) if n not in DATASETS)
