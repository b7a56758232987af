"""PolicyActor: deconfounded candidate generation (METHOD.md step 1) in a Ray Data actor pool."""
from __future__ import annotations

import pandas as pd

from actors.common import EngineActor, decode_image, to_list_column


class PolicyActor(EngineActor):
    """N samples per (image, question) with one shared decoding setting; only the seed differs.

    Used as `ds.map_batches(PolicyActor, fn_constructor_kwargs=..., compute=ActorPoolStrategy(...))`.
    Seeds derive from (round seed, instruction id), so a retried or resumed batch samples the
    same candidates again.
    """

    def __init__(self, model: str, backend: str, sampling: dict, seed: int, dtype: str = "float32",
                 max_model_len: int = 512, batch_size: int = 64, tensor_parallel_size: int = 1):
        from rlaifv.engine.base import SamplingSpec

        super().__init__(model, backend, dtype, max_model_len, batch_size, tensor_parallel_size)
        self.spec = SamplingSpec(**sampling)
        self.seed = seed

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from rlaifv.engine.base import Prompt
        from rlaifv.feedback.instruction import instruction_seed

        prompts = [Prompt(q, decode_image(im)) for q, im in zip(batch["question"], batch["image"])]
        seeds = [instruction_seed(self.seed, str(i)) for i in batch["id"]]
        outs = self.engine.generate(prompts, self.spec, seeds=seeds)
        batch = batch.copy()
        batch["candidates"] = to_list_column([[c.text for c in cs] for cs in outs], index=batch.index)
        batch["candidate_tokens"] = to_list_column([[len(c.token_ids) for c in cs] for cs in outs], index=batch.index)
        return batch
