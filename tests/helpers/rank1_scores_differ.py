"""Importing this module makes rank 1 of a process group score 1 - P(Yes): its validation AUC
is then 1 - rank 0's, so a rank deciding on its own scores would disagree with rank 0 about
the best checkpoint. For Ray Train workers; never the test process."""
import torch.distributed as dist

from models.scoring import YesNoScorer

_score = YesNoScorer.score


def _rank1_flipped(self, prompts):
    scores = _score(self, prompts)
    return 1.0 - scores if dist.is_initialized() and dist.get_rank() == 1 else scores


YesNoScorer.score = _rank1_flipped
