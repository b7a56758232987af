"""LabelerActor: the open MLLM that answers each claim's yes/no question (METHOD.md step 2)."""
from __future__ import annotations

import pandas as pd

from actors.common import EngineActor, decode_image, to_list_column


class LabelerActor(EngineActor):
    """First-token distribution per (image, question): p_yes = P(yes)+P(Yes), p_no = P(no)+P(No).

    All distinct questions about one image go to the engine together and in a row, so the
    engine's prefix cache (vLLM) reuses the image prefix; repeated claims are judged once.
    """

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from rlaifv.engine.base import Prompt
        from rlaifv.feedback.instruction import YES_NO_WORDS, spread_probs, unique_questions
        from rlaifv.feedback.scoring import p_yes_no

        per_row, prompts = [], []
        for questions, image in zip(batch["claim_questions"], batch["image"]):
            uniq = unique_questions(_lists(questions))
            img = decode_image(image)
            per_row.append(uniq)
            prompts.extend(Prompt(q, img) for q in uniq)
        probs = self.engine.answer_probs(prompts, YES_NO_WORDS) if prompts else []
        p_yes_col, p_no_col, start = [], [], 0
        for questions, uniq in zip(batch["claim_questions"], per_row):
            table = {q: p_yes_no(p) for q, p in zip(uniq, probs[start:start + len(uniq)])}
            start += len(uniq)
            p_yes, p_no = spread_probs(_lists(questions), table)
            p_yes_col.append(p_yes)
            p_no_col.append(p_no)
        batch = batch.copy()
        batch["p_yes"] = to_list_column(p_yes_col, index=batch.index)
        batch["p_no"] = to_list_column(p_no_col, index=batch.index)
        return batch


def _lists(nested) -> list[list[str]]:
    """Arrow nested lists arrive as numpy object arrays; make them plain lists."""
    return [list(x) for x in nested]
