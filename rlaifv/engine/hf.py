"""The transformers backend of the Engine interface (batched, left-padded, seeded).

Why a per-sample RNG: sample j of prompt i is drawn with its own `torch.Generator` seeded
with `sample_seed(seed_i, j)`, inside a logits processor that hands HF's greedy loop one
allowed token. So a sample does not depend on which other prompts share its batch, and
the same seeds give the same samples. Log-probs are taken from the raw logits (before
repetition penalty, temperature and top-p), as vLLM's `raw_logprobs`.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, RepetitionPenaltyLogitsProcessor

from rlaifv.engine.base import (
    Completion,
    Prompt,
    SamplingSpec,
    check_pairs,
    check_prompts,
    request_seeds,
    sample_seed,
)
from rlaifv.models.chat import TOKEN_ALIGNED_KEYS, completion_text, prompt_inputs, response_token_ids, tokenizer_of
from rlaifv.models.checkpoint import load_model


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of tokens whose probability reaches top_p."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    probs = sorted_logits.softmax(-1)
    mass_before = probs.cumsum(-1) - probs  # probability of strictly better tokens
    remove_sorted = mass_before >= top_p  # the top token always stays (mass_before == 0)
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return logits.masked_fill(remove, float("-inf"))


class TokenPicker(LogitsProcessor):
    """Chooses every row's next token itself and lets HF's greedy loop take exactly that one.

    Records the chosen token's log-prob under the RAW logits (before repetition penalty,
    temperature, top-p) step by step, so no [batch, steps, vocab] logits are kept.
    generators=None means greedy (argmax of the penalised logits, as HF greedy decoding).
    """

    def __init__(self, generators: list[torch.Generator] | None, temperature: float, top_p: float,
                 repetition_penalty: float = 1.0, pad_id: int | None = None):
        self.generators, self.temperature, self.top_p, self.pad_id = generators, temperature, top_p, pad_id
        self.penalty = RepetitionPenaltyLogitsProcessor(repetition_penalty) if repetition_penalty != 1.0 else None
        self.logprobs: list[torch.Tensor] = []  # one [batch] tensor per step

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        raw = scores.float().log_softmax(-1)
        logits = scores.float()
        if self.penalty is not None:
            logits = self.penalty(input_ids, logits.clone())
            if self.pad_id is not None:  # left padding is not "seen" text (vLLM never sees it)
                logits[:, self.pad_id] = scores[:, self.pad_id].float()
        if self.generators is None:
            chosen = logits.argmax(-1, keepdim=True)
        else:
            probs = top_p_filter(logits / self.temperature, self.top_p).softmax(-1)
            chosen = torch.stack([torch.multinomial(p, 1, generator=g) for p, g in zip(probs, self.generators)])
        self.logprobs.append(raw.gather(1, chosen)[:, 0])
        return torch.full_like(scores, float("-inf")).scatter(1, chosen, 0.0)


def collate(rows: list[dict[str, torch.Tensor]], pad_id: int, left: bool) -> dict[str, torch.Tensor]:
    """Pad token-aligned tensors ([1, L] each) on the left or right; concat image tensors."""
    length = max(r["input_ids"].shape[1] for r in rows)
    batch: dict[str, list[torch.Tensor]] = {}
    for r in rows:
        gap = length - r["input_ids"].shape[1]
        for key in ("input_ids", "attention_mask", *TOKEN_ALIGNED_KEYS):
            if key not in r:
                continue
            value = pad_id if key == "input_ids" else 0
            pad = torch.full((1, gap), value, dtype=r[key].dtype)
            batch.setdefault(key, []).append(torch.cat([pad, r[key]] if left else [r[key], pad], dim=1))
        for key, tensor in r.items():
            if key not in ("input_ids", "attention_mask", *TOKEN_ALIGNED_KEYS):
                batch.setdefault(key, []).append(tensor)
    for key in TOKEN_ALIGNED_KEYS:
        if key in batch and len(batch[key]) != len(rows):
            raise ValueError(f"collate: {key} present in only some rows")
    return {k: torch.cat(v, dim=0) for k, v in batch.items()}


class HFEngine:
    """Engine over a transformers model directory (written by `save_model`)."""

    def __init__(self, model_path: str, dtype: str = "float32", device: str = "cpu", batch_size: int = 32):
        if batch_size < 1:
            raise ValueError(f"HFEngine: batch_size must be >= 1, got {batch_size}")
        self.model, self.processor = load_model(model_path, dtype=getattr(torch, dtype))
        self.model.to(device)
        self.device, self.batch_size = torch.device(device), batch_size
        self.tokenizer = tokenizer_of(self.processor)
        self.eos_id, self.pad_id = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id

    def response_token_ids(self, text: str) -> list[int]:
        return response_token_ids(self.tokenizer, text)

    def _inputs(self, prompt: Prompt) -> dict[str, torch.Tensor]:
        return prompt_inputs(self.processor, prompt.question, prompt.image)

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        dtype = self.model.dtype
        return {k: (v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device)) for k, v in batch.items()}

    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[Prompt], spec: SamplingSpec, seeds: Sequence[int] | None = None
    ) -> list[list[Completion]]:
        prompts = check_prompts(prompts)
        per_prompt = request_seeds(prompts, spec, seeds)
        inputs = [self._inputs(p) for p in prompts]
        rows = [(i, j) for i in range(len(prompts)) for j in range(spec.n)]
        out: list[list[Completion]] = [[] for _ in prompts]
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            seeds_chunk = [sample_seed(per_prompt[i], j) for i, j in chunk]
            completions = self._generate_batch([inputs[i] for i, _ in chunk], spec, seeds_chunk)
            for (i, _), completion in zip(chunk, completions):
                out[i].append(completion)
        return out

    def _generate_batch(self, rows: list[dict], spec: SamplingSpec, seeds: list[int]) -> list[Completion]:
        batch = self._to_device(collate(rows, self.pad_id, left=True))
        generators = None
        if spec.temperature > 0:
            generators = [torch.Generator(device=self.device).manual_seed(s) for s in seeds]
        picker = TokenPicker(generators, spec.temperature, spec.top_p, spec.repetition_penalty, self.pad_id)
        config = GenerationConfig(
            do_sample=False, max_new_tokens=spec.max_tokens, eos_token_id=self.eos_id, pad_token_id=self.pad_id,
            bos_token_id=self.tokenizer.bos_token_id,
        )
        sequences = self.model.generate(**batch, generation_config=config, logits_processor=LogitsProcessorList([picker]))
        new_tokens = sequences[:, batch["input_ids"].shape[1] :].tolist()
        logprobs = torch.stack(picker.logprobs, dim=1).tolist()  # [B, steps]
        completions = []
        for ids, lps in zip(new_tokens, logprobs):
            if self.eos_id in ids:
                ids = ids[: ids.index(self.eos_id) + 1]
            completions.append(Completion(completion_text(self.tokenizer, ids), ids, lps[: len(ids)]))
        return completions

    def _forward_logprobs(self, rows: list[dict]) -> torch.Tensor:
        """log_softmax of the logits of right-padded rows: [B, L, V]."""
        batch = self._to_device(collate(rows, self.pad_id, left=False))
        logits = self.model(**batch, use_cache=False).logits
        return logits.float().log_softmax(-1)

    @torch.inference_mode()
    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[list[float]]:
        prompts = check_prompts(prompts)
        check_pairs(prompts, responses)
        out: list[list[float]] = []
        for start in range(0, len(prompts), self.batch_size):
            rows, spans = [], []
            for p, r in zip(prompts[start : start + self.batch_size], responses[start : start + self.batch_size]):
                row = self._inputs(p)
                ids = torch.tensor([self.response_token_ids(r)], dtype=row["input_ids"].dtype)
                spans.append((row["input_ids"].shape[1], ids[0]))
                row = _append_tokens(row, ids)
                rows.append(row)
            logprobs = self._forward_logprobs(rows)
            for b, (plen, ids) in enumerate(spans):
                positions = torch.arange(plen - 1, plen - 1 + len(ids))
                out.append(logprobs[b, positions, ids].tolist())
        return out

    @torch.inference_mode()
    def answer_probs(self, prompts: Sequence[Prompt], words: Sequence[str]) -> list[dict[str, float]]:
        prompts = check_prompts(prompts)
        token_ids = answer_token_ids(self.tokenizer, words)
        out: list[dict[str, float]] = []
        for start in range(0, len(prompts), self.batch_size):
            rows = [self._inputs(p) for p in prompts[start : start + self.batch_size]]
            logprobs = self._forward_logprobs(rows)
            for b, row in enumerate(rows):
                last = logprobs[b, row["input_ids"].shape[1] - 1]
                out.append({w: float(last[t].exp()) for w, t in zip(words, token_ids)})
        return out


def answer_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """First token of each word as the model would answer it (" yes" after "ASSISTANT:")."""
    if isinstance(words, str) or not words:
        raise ValueError(f"words must be a non-empty sequence of str, got {words!r}")
    return [response_token_ids(tokenizer, w, add_eos=False)[0] for w in words]


def _append_tokens(row: dict[str, torch.Tensor], ids: torch.Tensor) -> dict[str, torch.Tensor]:
    """Append text tokens (mask 1, token type 0) to one processed prompt row."""
    row = dict(row)
    row["input_ids"] = torch.cat([row["input_ids"], ids], dim=1)
    row["attention_mask"] = torch.cat([row["attention_mask"], torch.ones_like(ids)], dim=1)
    for key in TOKEN_ALIGNED_KEYS:
        if key in row:
            row[key] = torch.cat([row[key], torch.zeros_like(ids, dtype=row[key].dtype)], dim=1)
    return row
