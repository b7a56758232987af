"""ReferenceScorerActor: per-token log-probs of chosen/rejected under the round's reference model.

Computed once per round before DPO (METHOD.md step 4) and stored as columns, so training
never runs a reference forward.
"""
from __future__ import annotations

import pandas as pd

from actors.common import decode_image, engine_options, set_actor_threads, to_list_column


class ReferenceScorerActor:
    def __init__(self, model: str, backend: str, dtype: str = "float32", max_model_len: int = 512,
                 batch_size: int = 64, tensor_parallel_size: int = 1):
        from rlaifv.engine import make_engine

        set_actor_threads()
        self.engine = make_engine(backend, model, **engine_options(backend, dtype, max_model_len, batch_size,
                                                                  tensor_parallel_size))

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from rlaifv.engine.base import Prompt

        prompts = [Prompt(q, decode_image(im)) for q, im in zip(batch["question"], batch["image"])]
        n = len(prompts)
        logps = self.engine.score(prompts + prompts, list(batch["chosen"]) + list(batch["rejected"]))
        batch = batch.copy()
        batch["ref_chosen_logps"] = to_list_column(logps[:n], index=batch.index)
        batch["ref_rejected_logps"] = to_list_column(logps[n:], index=batch.index)
        return batch
