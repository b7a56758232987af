"""Ray Serve deployments of best-of-N self-reward inference (METHOD.md step 6).

- `PolicyDeployment`: N candidates of one request in one `generate` call (n=N, one seed per
  request; sample j uses `sample_seed(seed, j)`, as in collection), with the same engine
  classes as collection. Concurrent requests are batched (`@serve.batch`), one `generate`
  per distinct sampling setting, so each request keeps its own decoding.
- `RewardScorerDeployment`: holds the aligned model AND its reference (two engines) and
  scores every candidate of every request in the batch:
  r(y) = beta / T * sum_t log(pi_theta(y_t) / pi_ref(y_t))  (rlaifv.reward).
  The policy deployment samples with the aligned model and returns each sample's raw
  log-probs, so pi_theta comes with the sample; the scorer runs only the reference on it and
  the aligned model only for samples whose text does not re-tokenise to the sampled ids
  (`rlaifv.engine.base.sampled_logprobs`). That halves the scoring forwards per request.

Engines run in a worker thread (`asyncio.to_thread`) so the replica's event loop keeps
accepting requests while a batch computes; one batch at a time keeps engine use serial.
Resources and autoscaling are set by `pipelines/serve.py` with `.options(...)`.
"""
from __future__ import annotations

import asyncio
import math
from typing import Any, Sequence

from ray import serve

from actors.common import decode_image, engine_options, set_actor_threads
from rlaifv.engine.base import is_scorable, logprobs_or_score, sampled_logprobs

MAX_BATCH_REQUESTS = 8  # requests per engine call; each holds up to serve.max_n candidates
BATCH_WAIT_S = 0.01


def spec_key(spec: dict) -> tuple:
    """Requests with equal keys share one generate() call (seeds stay per request)."""
    return (spec["n"], spec["temperature"], spec.get("top_p", 1.0), spec["max_tokens"],
            spec.get("repetition_penalty", 1.0))


def group_by_spec(specs: Sequence[dict]) -> dict[tuple, list[int]]:
    """Indices of the batch's requests per distinct sampling setting, in arrival order."""
    groups: dict[tuple, list[int]] = {}
    for i, spec in enumerate(specs):
        groups.setdefault(spec_key(spec), []).append(i)
    return groups


def candidate_scores(policy_logps: Sequence[Sequence[float]], ref_logps: Sequence[Sequence[float]],
                     beta: float) -> list[dict]:
    """Per candidate: length-normalised reward, summed log-probs of both models, T."""
    from rlaifv.reward import length_normalized_reward

    if len(policy_logps) != len(ref_logps):
        raise ValueError(f"candidate_scores: {len(policy_logps)} policy rows vs {len(ref_logps)} reference rows")
    out = []
    for pol, ref in zip(policy_logps, ref_logps):
        out.append({"reward": length_normalized_reward(pol, ref, beta), "policy_logp": math.fsum(pol),
                    "reference_logp": math.fsum(ref), "tokens": len(pol)})
    return out


UNSCORABLE = {"reward": -math.inf, "policy_logp": math.nan, "reference_logp": math.nan, "tokens": 0}


def _make_engine(model: str, engine: dict) -> Any:
    from rlaifv.engine import make_engine

    opts = engine_options(engine["backend"], engine["dtype"], engine["max_model_len"], engine["batch_size"],
                          engine.get("tensor_parallel_size", 1))
    opts.update(engine.get("extra", {}))
    return make_engine(engine["backend"], model, **opts)


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=2 * MAX_BATCH_REQUESTS)
class PolicyDeployment:
    """`engine`: {"backend", "dtype", "max_model_len", "batch_size"[, "tensor_parallel_size", "extra"]}."""

    def __init__(self, model: str, engine: dict):
        set_actor_threads()
        self.engine = _make_engine(model, engine)
        self.max_model_len = int(engine["max_model_len"])
        self.eos_id = self.engine.tokenizer.eos_token_id

    async def sample(self, question: str, image: bytes, spec: dict, seed: int) -> dict:
        """{"prompt_tokens", "candidates": [{"text", "completion_tokens", "finish_reason"}]}
        or {"error": {"status", "message", "param", "code"}} for a request that cannot fit."""
        return await self._sample_batch((question, image, spec, seed))

    @serve.batch(max_batch_size=MAX_BATCH_REQUESTS, batch_wait_timeout_s=BATCH_WAIT_S)
    async def _sample_batch(self, items: list[tuple]) -> list[dict]:
        return await asyncio.to_thread(self._sample, items)

    def _sample(self, items: list[tuple]) -> list[dict]:
        from rlaifv.engine.base import Prompt, SamplingSpec

        prompts = [Prompt(q, decode_image(im)) for q, im, _, _ in items]
        out: list[dict] = [{} for _ in items]
        fits = []
        for i, (prompt, (_, _, spec, _)) in enumerate(zip(prompts, items)):
            length = self._prompt_length(prompt)
            if length is not None and length + spec["max_tokens"] > self.max_model_len:
                out[i] = {"error": {"status": 400, "param": "max_tokens", "code": "context_length_exceeded",
                                    "message": f"prompt ({length} tokens with the image) + max_tokens "
                                               f"({spec['max_tokens']}) exceeds the model's context of "
                                               f"{self.max_model_len} tokens"}}
            else:
                out[i]["prompt_tokens"] = length or 0
                fits.append(i)
        for key, members in group_by_spec([items[i][2] for i in fits]).items():
            rows = [fits[m] for m in members]
            spec = SamplingSpec(n=key[0], temperature=key[1], top_p=key[2], max_tokens=key[3],
                                repetition_penalty=key[4])
            results = self.engine.generate([prompts[i] for i in rows], spec, seeds=[items[i][3] for i in rows])
            for i, completions in zip(rows, results):
                out[i]["candidates"] = [self._candidate(c) for c in completions]
        return out

    def _candidate(self, completion) -> dict:
        finished = bool(completion.token_ids) and completion.token_ids[-1] == self.eos_id
        return {"text": completion.text, "completion_tokens": len(completion.token_ids),
                "finish_reason": "stop" if finished else "length",
                "token_ids": list(completion.token_ids), "logprobs": list(completion.logprobs)}

    def _prompt_length(self, prompt) -> int | None:
        """Prompt tokens with the image expanded, as the model sees them (None: unknown)."""
        processor = getattr(self.engine, "processor", None)
        if processor is None:
            return None
        from rlaifv.models.chat import prompt_inputs

        return int(prompt_inputs(processor, prompt.question, prompt.image)["input_ids"].shape[1])


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=2 * MAX_BATCH_REQUESTS)
class RewardScorerDeployment:
    """Scores candidates with the aligned model (`model`) and its reference (`reference`)."""

    def __init__(self, model: str, reference: str, engine: dict, beta: float):
        if not (math.isfinite(beta) and beta > 0):
            raise ValueError(f"RewardScorerDeployment: beta must be > 0, got {beta}")
        set_actor_threads()
        self.policy = _make_engine(model, engine)
        self.reference = _make_engine(reference, engine)
        self.beta = float(beta)

    async def score(self, question: str, image: bytes, texts: list[str],
                    sampled: list[dict] | None = None) -> list[dict]:
        """Per candidate {"reward", "policy_logp", "reference_logp", "tokens"}, in order.
        `sampled[j]` ({"token_ids", "logprobs"} from the policy deployment) spares candidate j
        the aligned model's forward when those are its exact log-probs."""
        sampled = list(sampled) if sampled is not None else [{} for _ in texts]
        if len(sampled) != len(texts):
            raise ValueError(f"score: {len(sampled)} sampled entries for {len(texts)} texts")
        return await self._score_batch((question, image, list(texts), sampled))

    @serve.batch(max_batch_size=MAX_BATCH_REQUESTS, batch_wait_timeout_s=BATCH_WAIT_S)
    async def _score_batch(self, items: list[tuple]) -> list[list[dict]]:
        return await asyncio.to_thread(self._score, items)

    def _score(self, items: list[tuple]) -> list[list[dict]]:
        from rlaifv.engine.base import Prompt

        prompts, texts, slots, known = [], [], [], []  # slots: (request, candidate) of each scored row
        out: list[list[dict]] = [[dict(UNSCORABLE) for _ in item[2]] for item in items]
        for k, (question, image, candidates, sampled) in enumerate(items):
            prompt = Prompt(question, decode_image(image))
            for j, (text, extra) in enumerate(zip(candidates, sampled)):
                if is_scorable(self.policy, text):
                    prompts.append(prompt)
                    texts.append(text)
                    slots.append((k, j))
                    known.append(sampled_logprobs(self.policy, text, extra.get("token_ids"), extra.get("logprobs")))
        if prompts:
            scores = candidate_scores(logprobs_or_score(self.policy, prompts, texts, known),
                                      self.reference.score(prompts, texts), self.beta)
            for (k, j), score in zip(slots, scores):
                out[k][j] = score
        return out

