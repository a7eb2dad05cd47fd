"""The shared protocol of the sequential-recommender baselines (TALLRec, Section 4.1).

Every baseline (gru4rec, caser, sasrec, dros, gru-bert, dros-bert) goes through `run_seqrec`:

* **Input**: the (up to) 10 history item ids of a sample with their like/dislike labels; a
  history shorter than 10 is padded on the right with the user's last item (and its label), an
  empty one with the unknown item. Each position is `item_embedding + label_embedding` (the
  -BERT variants concatenate the frozen text embedding of the item).
* **Ids**: one vocabulary built from the training samples (history items and targets), keyed by
  (domain, item_id) so a movie id and an ISBN never collide (train_mix `both` shares it); index 0
  is the shared unknown item every id unseen in training maps to.
* **Output**: `score = <h, q_target> + b_target`, with h the backbone's state after the history
  and q / b an output embedding and bias per item (the original models' final
  `Linear(hidden, n_items)`).
* **Training**: MSE between the score and the 0/1 label; Adam, learning rate `cfg.learning_rate`
  (1e-3); one model per weight decay in `cfg.weight_decays`, each early-stopped on validation AUC
  (`cfg.patience` epochs without a new best, at most `cfg.epochs`); the decay whose best epoch has
  the highest validation AUC is kept (ties: the first in the list) and only that model scores the
  eval split. The test split is never looked at before the choice.
* **Determinism**: every decay starts from the same seeded initialisation and the same seeded
  batch order, inside `torch.random.fork_rng`, so a run never disturbs the caller's RNG.
"""
from baselines._encoding import (HISTORY_LEN, NO_TEXT, UNKNOWN, Encoded, ItemVocab, TextTable,  # noqa: F401
                                 encode, item_key, pad_history, sample_keys)
from baselines._model import (SCORE_CHUNK, Arch, DroConfig, Dims, SeqRecModel, dro_term,  # noqa: F401
                              propensity, score)
from baselines._training import (DecayRun, Fitted, TextModelConfig, _build, baseline_config, fit,  # noqa: F401
                                 make_dims, resolve_device, run_seqrec, train_one, valid_metric)
