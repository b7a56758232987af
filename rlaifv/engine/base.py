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


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    # log-prob of each generated token under the (unprocessed) model distribution
    logprobs: list[float] = field(default_factory=list)


class Engine(Protocol):
    """What every backend provides."""

    def generate(self, prompts: Sequence[Prompt], spec: SamplingSpec) -> list[list[Completion]]:
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
