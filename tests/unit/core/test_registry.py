import sys

import pytest

from harness.core.errors import HarnessError
from harness.core.methods import METHODS, MethodInfo, method_info
from harness.core.registry import Registry, UnknownName


def test_unknown_name_lists_registered_ones():
    with pytest.raises(UnknownName) as err:
        METHODS.get("no-such-method")
    assert isinstance(err.value, HarnessError)
    assert "no-such-method" in str(err.value) and "random" in str(err.value)
    assert "item-popularity" in str(err.value)


def test_baselines_are_discovered_by_file_name_without_import():
    names = METHODS.names()
    assert {"random", "item-popularity", "tallrec"} <= set(names)
    assert not any(n.startswith("-") or n.startswith("_") for n in names)


def test_registry_is_lazy():
    reg = Registry("thing", {"a": "tests.unit.lazy_target_does_not_exist:x"})
    assert reg.names() == ["a"]          # listing imports nothing
    assert "tests.unit.lazy_target_does_not_exist" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        reg.get("a")


def test_conflicting_registration_is_an_error():
    reg = Registry("thing", {"a": "json:dumps"})
    reg.register("a", "json:dumps")  # same target: fine
    with pytest.raises(ValueError):
        reg.register("a", "json:loads")
    assert reg.get("a") is __import__("json").dumps


def test_method_info_defaults_for_plain_baselines():
    info = method_info("random")
    assert info == MethodInfo()
    assert info.blocks_for(None) == ("baseline",) and not info.is_zero_shot(None)
