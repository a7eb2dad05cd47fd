"""model.revision and model.trust_remote_code reach transformers; unset, nothing changes (ids
included)."""
from types import SimpleNamespace

import pytest

from harness.core.config import ModelConfig
from harness.core.spec import TrialSpec
from models import loading


class _Recorder:
    def __init__(self, made):
        self.calls, self.made = [], made

    def from_pretrained(self, path, **kwargs):
        self.calls.append(kwargs)
        return self.made


def _load(monkeypatch, tmp_path, **fields):
    import transformers

    (tmp_path / "m").mkdir(exist_ok=True)
    (tmp_path / "m" / "config.json").write_text("{}")
    model = SimpleNamespace(config=SimpleNamespace(pad_token_id=0), to=lambda d: None, eval=lambda: None)
    tok, net = _Recorder(SimpleNamespace(pad_token_id=0)), _Recorder(model)
    monkeypatch.setattr(transformers, "AutoTokenizer", tok)
    monkeypatch.setattr(transformers, "AutoModelForCausalLM", net)
    loading.load_base(ModelConfig(name=str(tmp_path / "m"), **fields), tmp_path, device="cpu")
    return tok.calls[0], net.calls[0]


def test_revision_and_trust_remote_code_are_passed_to_tokenizer_and_model(monkeypatch, tmp_path):
    tok, net = _load(monkeypatch, tmp_path, revision="v1.0", trust_remote_code=True)
    for kwargs in (tok, net):
        assert kwargs["revision"] == "v1.0" and kwargs["trust_remote_code"] is True


def test_unset_they_are_not_passed_and_no_trial_id_changes(monkeypatch, tmp_path):
    tok, net = _load(monkeypatch, tmp_path)
    assert not {"revision", "trust_remote_code"} & (set(tok) | set(net))
    plain = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=16, model=ModelConfig().model_dump())
    assert "revision" not in plain.canonical_json()
    pinned = plain.model_copy(update={"model": ModelConfig(revision="abc").model_dump()})
    assert pinned.trial_id != plain.trial_id


@pytest.mark.parametrize("field", ["revision", "trust_remote_code"])
def test_they_are_listed_as_added_fields(field):
    assert field in ModelConfig.ADDED_FIELDS
