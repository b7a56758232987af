"""The one engine interface that collection, labeling, scoring and serving all use.

Two backends implement it (`hf.py`: transformers, `vllm_backend.py`: vLLM). Both take the
same `Prompt`s and `SamplingSpec`, so a pipeline picks a backend by config alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from PIL import Image


@dataclass(frozen=True)
class Prompt:
    """One user turn: an optional image and the question text (chat template applied by the engine)."""

    question: str
    image: Image.Image | None = None


@dataclass(frozen=True)
class SamplingSpec:
    """Decoding settings shared by every sample of a prompt (deconfounded: only the seed differs).

    `seed` is the per-request seed; sample j of a request is reproducible from (seed, j).
    temperature == 0 means greedy (n must then be 1).
    """

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 64
    seed: int = 0
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingSpec.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"SamplingSpec.temperature must be >= 0, got {self.temperature}")
        if self.temperature == 0 and self.n != 1:
            raise ValueError(f"SamplingSpec: greedy decoding (temperature 0) needs n == 1, got n={self.n}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingSpec.top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"SamplingSpec.max_tokens must be >= 1, got {self.max_tokens}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"SamplingSpec.repetition_penalty must be > 0, got {self.repetition_penalty}")


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    # log-prob of each generated token under the (unprocessed) model distribution
    logprobs: list[float] = field(default_factory=list)


class Engine(Protocol):
    """What every backend provides."""

    def generate(
        self, prompts: Sequence[Prompt], spec: SamplingSpec, seeds: Sequence[int] | None = None
    ) -> list[list[Completion]]:
        """spec.n completions per prompt, in prompt order. Prompt i uses seed spec.seed + i
        unless the caller passes per-prompt seeds via `seeds`."""
        ...

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[list[float]]:
        """Per-token log-probs of each response (tokenised as the engine would generate it)
        given its prompt; response i belongs to prompt i."""
        ...

    def answer_probs(self, prompts: Sequence[Prompt], words: Sequence[str]) -> list[dict[str, float]]:
        """First-step probability of each word's first token (e.g. yes/Yes/no/No)."""
        ...

    def response_token_ids(self, text: str) -> list[int]:
        """Token ids of a response as scored and trained on (the answer's tokens + eos)."""
        ...


def is_scorable(engine: Engine, text: str) -> bool:
    """False for text that cannot be re-tokenised as an answer (e.g. it spells a special token),
    so scoring a batch never fails on one bad candidate."""
    try:
        engine.response_token_ids(text)
        return True
    except (ValueError, TypeError):
        return False


def sampled_logprobs(engine: Engine, text: str, token_ids: Sequence[int] | None,
                     logprobs: Sequence[float] | None) -> list[float] | None:
    """The sampler's own per-token log-probs of a completion, when they are exactly what
    `engine.score(prompt, text)` would return: both backends record the raw (unprocessed)
    log-prob of each sampled token, so for the same tokens the scoring forward is redundant.
    None (score it) when the text does not re-tokenise to the sampled ids: a truncated
    sample has no eos, and a sampler may pick a non-canonical tokenisation."""
    if not token_ids or logprobs is None or len(logprobs) != len(token_ids):
        return None
    try:
        canonical = engine.response_token_ids(text)
    except (ValueError, TypeError):
        return None
    return [float(x) for x in logprobs] if list(canonical) == list(token_ids) else None


def logprobs_or_score(engine: Engine, prompts: Sequence[Prompt], texts: Sequence[str],
                      known: Sequence[list[float] | None]) -> list[list[float] | None]:
    """known[i] where given, else `engine.score` of (prompts[i], texts[i]) in one batched call;
    None stays for a text the engine cannot tokenise as an answer (see `is_scorable`)."""
    out = list(known)
    todo = [i for i, lp in enumerate(out) if lp is None and is_scorable(engine, texts[i])]
    if todo:
        for i, lp in zip(todo, engine.score([prompts[i] for i in todo], [texts[i] for i in todo])):
            out[i] = lp
    return out


_MASK64 = (1 << 64) - 1


def sample_seed(request_seed: int, index: int) -> int:
    """Seed of sample `index` of a request: a SplitMix64 mix of both, in [0, 2**31).

    Why not `request_seed + index`: with per-prompt seeds `base + i`, that would give sample 1
    of prompt 0 the noise of sample 0 of prompt 1. Both backends use this, one RNG per sample.
    """
    z = (request_seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) & 0x7FFFFFFF


def request_seeds(prompts: Sequence[Prompt], spec: SamplingSpec, seeds: Sequence[int] | None) -> list[int]:
    """Per-prompt seeds: the caller's, else spec.seed + i."""
    if seeds is None:
        return [spec.seed + i for i in range(len(prompts))]
    if len(seeds) != len(prompts):
        raise ValueError(f"seeds: {len(seeds)} seeds for {len(prompts)} prompts")
    return [int(s) for s in seeds]


def check_prompts(prompts: Sequence[Prompt]) -> list[Prompt]:
    """A list of Prompts, or a clear error naming the bad row."""
    prompts = list(prompts)
    for i, p in enumerate(prompts):
        if not isinstance(p, Prompt):
            raise TypeError(f"prompts[{i}] must be a Prompt, got {type(p).__name__}")
        if not isinstance(p.question, str) or not p.question.strip():
            raise ValueError(f"prompts[{i}].question is empty or not a str")
        if p.image is not None and not isinstance(p.image, Image.Image):
            raise TypeError(f"prompts[{i}].image must be a PIL.Image or None, got {type(p.image).__name__}")
    return prompts


def check_pairs(prompts: Sequence[Prompt], responses: Sequence[str]) -> None:
    if len(prompts) != len(responses):
        raise ValueError(f"score: {len(responses)} responses for {len(prompts)} prompts")
    for i, r in enumerate(responses):
        if not isinstance(r, str):
            raise TypeError(f"responses[{i}] must be a str, got {type(r).__name__}")
