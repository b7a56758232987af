"""ClaimSplitterActor: the LLM divide step (METHOD.md step 2) through the same engines.

An instruct LLM splits each candidate into facts (the authors' prompt, T=0.2, top_p 0.9) and,
with `convert=True`, turns them into yes/no questions; otherwise the rule converter does.
Malformed model output is recorded per candidate (`split_errors`), never a crash: such a
candidate keeps no judged claims and is left out of pairing.
"""
from __future__ import annotations

import pandas as pd

from actors.common import EngineActor, to_list_column


class ClaimSplitterActor(EngineActor):
    def __init__(self, model: str, backend: str, convert: bool, dtype: str = "float32", max_model_len: int = 2048,
                 batch_size: int = 32, seed: int = 0):
        super().__init__(model, backend, dtype, max_model_len, batch_size)
        self.convert, self.seed = convert, seed

    def _ask(self, texts: list[str], max_tokens: int | None = None) -> list[str]:
        import dataclasses

        from rlaifv.engine.base import Prompt
        from rlaifv.feedback.claims import SPLIT_SAMPLING

        spec = SPLIT_SAMPLING if max_tokens is None else dataclasses.replace(SPLIT_SAMPLING, max_tokens=max_tokens)
        outs = self.engine.generate([Prompt(t) for t in texts], spec, seeds=[self.seed + i for i in range(len(texts))])
        return [o[0].text for o in outs]

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from rlaifv.feedback.claims import parse_facts, split_prompt
        from rlaifv.feedback.questions import convert_prompt, parse_questions, rule_question

        flat = [(i, q, c) for i, (q, cands) in enumerate(zip(batch["question"], batch["candidates"])) for c in cands]
        parsed = [parse_facts(o) for o in self._ask([split_prompt(q, c) for _, q, c in flat])]
        claims = [p.facts for p in parsed]
        errors = [p.error or "" for p in parsed]
        if self.convert:
            todo = [k for k, cs in enumerate(claims) if cs]
            outs = self._ask([convert_prompt(claims[k]) for k in todo]) if todo else []
            questions = [[] for _ in claims]
            for k, out in zip(todo, outs):
                questions[k], err = parse_questions(out, len(claims[k]))
                errors[k] = errors[k] or (err or "")
        else:
            questions = [[rule_question(c) for c in cs] for cs in claims]
        nested_c, nested_q, nested_e = ([[] for _ in range(len(batch))] for _ in range(3))
        for (i, _, _), c, q, e in zip(flat, claims, questions, errors):
            nested_c[i].append(c)
            nested_q[i].append(q)
            nested_e[i].append(e)
        batch = batch.copy()
        batch["claims"] = to_list_column(nested_c, index=batch.index)
        batch["claim_questions"] = to_list_column(nested_q, index=batch.index)
        batch["split_errors"] = to_list_column(nested_e, index=batch.index)
        return batch
