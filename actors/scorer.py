"""ReferenceScorerActor: per-token log-probs of chosen/rejected under the round's reference model.

Computed once per round before DPO (METHOD.md step 4) and stored as columns, so training
never runs a reference forward.
"""
from __future__ import annotations

import pandas as pd

from actors.common import EngineActor, decode_image, to_list_column


class ReferenceScorerActor(EngineActor):
    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from rlaifv.engine.base import Prompt

        prompts = [Prompt(q, decode_image(im)) for q, im in zip(batch["question"], batch["image"])]
        n = len(prompts)
        logps = self.engine.score(prompts + prompts, list(batch["chosen"]) + list(batch["rejected"]))
        batch = batch.copy()
        batch["ref_chosen_logps"] = to_list_column(logps[:n], index=batch.index)
        batch["ref_rejected_logps"] = to_list_column(logps[n:], index=batch.index)
        return batch
