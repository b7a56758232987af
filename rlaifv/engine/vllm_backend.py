"""The vLLM backend of the Engine interface (same semantics as `hf.py`, faster sampling).

Why token-id prompts: both backends then see the very same ids (one image token, which
vLLM expands like the HF processor), so scores agree to float error (fp32: < 1e-5).
- generate: one request per sample, seed `sample_seed(seed_i, j)`, `logprobs=0` under
  `logprobs_mode="raw_logprobs"` (log-prob of the chosen token before penalties/temperature).
- score: prompt ids + response ids as the prompt, `prompt_logprobs=0`; the last
  len(response) entries are the response tokens' log-probs.
- answer_probs: `logprob_token_ids` (vLLM >= 0.32) returns the exact raw log-prob of just
  the requested tokens at the first step: no top-k cut-off, cheap for a 32k+ vocabulary
  (at most 128 ids per request).
"""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

from PIL import Image

from rlaifv.engine.base import Completion, Prompt, SamplingSpec, check_pairs, check_prompts, request_seeds, sample_seed
from rlaifv.engine.hf import answer_token_ids
from rlaifv.models.chat import completion_text, prompt_token_ids, response_token_ids, tokenizer_of

CPU_ENV_DEFAULTS = {
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB; unset, vLLM sizes the KV cache from RAM and can fail
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",  # else all threads are pinned to one core
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # engine in the caller's process: faster load, half the RAM
    "HF_HUB_OFFLINE": "1",
}


def set_cpu_env_defaults() -> None:
    """Apply CPU_ENV_DEFAULTS where the variable is not already set (GPU hosts: only offline)."""
    import torch

    defaults = CPU_ENV_DEFAULTS if not torch.cuda.is_available() else {"HF_HUB_OFFLINE": "1"}
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def llm_defaults(engine_kwargs: dict[str, Any]) -> dict[str, Any]:
    """`vllm.LLM` keyword defaults of this project (the caller's values win)."""
    from vllm.platforms import current_platform

    kwargs = dict(engine_kwargs)
    single = kwargs.get("tensor_parallel_size", 1) == 1 and kwargs.get("pipeline_parallel_size", 1) == 1
    if os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0" and single:
        kwargs.setdefault("distributed_executor_backend", "uni")  # engine in this process
    kwargs.setdefault("limit_mm_per_prompt", {"image": 1, "video": 0})
    kwargs.setdefault("logprobs_mode", "raw_logprobs")  # log-probs before penalties/temperature
    if current_platform.is_cpu():
        # A seeded request whose prompt is split over steps (chunked prefill) crashes on CPU
        # ("CPU Generator does not use offset": vLLM rewinds the RNG of the discarded
        # partial-prefill sample, which only CUDA generators allow). Whole-prompt scheduling
        # also keeps a sample independent of how the batch was chunked.
        kwargs.setdefault("enable_chunked_prefill", False)
    return kwargs


class VLLMEngine:
    """Engine over `vllm.LLM` (in-process, offline). Call `close()` before building another."""

    def __init__(
        self,
        model_path: str,
        dtype: str = "float32",
        max_model_len: int = 512,
        gpu_memory_utilization: float = 0.5,
        enable_prefix_caching: bool = True,
        **engine_kwargs: Any,
    ):
        set_cpu_env_defaults()
        import torch
        from transformers import AutoProcessor
        from vllm import LLM

        self.processor = AutoProcessor.from_pretrained(model_path)
        self.tokenizer = tokenizer_of(self.processor)
        engine_kwargs = llm_defaults(engine_kwargs)
        set_num_threads = torch.set_num_threads
        self.llm = LLM(
            model=str(model_path),
            dtype=dtype,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            enable_prefix_caching=enable_prefix_caching,
            **engine_kwargs,
        )
        if os.environ.get("VLLM_CPU_OMP_THREADS_BIND") == "nobind":
            # vLLM's CPU worker replaces torch.set_num_threads by a warning (it protects pinned
            # threads); with no pinning that only breaks the caller's own thread settings.
            torch.set_num_threads = set_num_threads
        self._warm_up()

    def _warm_up(self) -> None:
        """First generate() after load costs seconds (kernel/JIT set-up): pay it now."""
        image = Image.new("RGB", (48, 48), (127, 127, 127))
        self.generate([Prompt("Describe the image.", image)], SamplingSpec(n=1, max_tokens=2))

    def close(self) -> None:
        """Free the engine and vLLM's in-process distributed state (so a new one can start)."""
        import gc

        llm = getattr(self, "llm", None)
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        if engine is not None and hasattr(engine, "engine_core") and hasattr(engine.engine_core, "shutdown"):
            engine.engine_core.shutdown()
        self.llm = None
        del llm, engine
        gc.collect()
        try:
            from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

            destroy_model_parallel()
            destroy_distributed_environment()
        except Exception:  # nothing to tear down
            pass

    def response_token_ids(self, text: str) -> list[int]:
        return response_token_ids(self.tokenizer, text)

    def _request(self, prompt: Prompt, extra_ids: Sequence[int] = ()) -> dict:
        ids = prompt_token_ids(self.processor, prompt.question, has_image=prompt.image is not None)
        request: dict = {"prompt_token_ids": ids + list(extra_ids)}
        if prompt.image is not None:
            request["multi_modal_data"] = {"image": prompt.image.convert("RGB")}
        return request

    def _run(self, requests: list[dict], params: Any) -> list:
        if self.llm is None:
            raise RuntimeError("VLLMEngine is closed")
        return self.llm.generate(requests, params, use_tqdm=False)

    def generate(
        self, prompts: Sequence[Prompt], spec: SamplingSpec, seeds: Sequence[int] | None = None
    ) -> list[list[Completion]]:
        from vllm import SamplingParams

        prompts = check_prompts(prompts)
        per_prompt = request_seeds(prompts, spec, seeds)
        requests, params = [], []
        for i, prompt in enumerate(prompts):
            request = self._request(prompt)
            for j in range(spec.n):
                requests.append(request)
                params.append(SamplingParams(
                    n=1, temperature=spec.temperature, top_p=spec.top_p, max_tokens=spec.max_tokens,
                    repetition_penalty=spec.repetition_penalty, seed=sample_seed(per_prompt[i], j),
                    logprobs=0, detokenize=False,
                ))
        outputs = self._run(requests, params)
        result: list[list[Completion]] = [[] for _ in prompts]
        for k, output in enumerate(outputs):
            sample = output.outputs[0]
            ids = list(sample.token_ids)
            logprobs = [step[t].logprob for step, t in zip(sample.logprobs, ids)]
            result[k // spec.n].append(Completion(completion_text(self.tokenizer, ids), ids, logprobs))
        return result

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[list[float]]:
        from vllm import SamplingParams

        prompts = check_prompts(prompts)
        check_pairs(prompts, responses)
        response_ids = [self.response_token_ids(r) for r in responses]
        requests = [self._request(p, ids) for p, ids in zip(prompts, response_ids)]
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        out = []
        for output, ids in zip(self._run(requests, params), response_ids):
            steps = output.prompt_logprobs[-len(ids):]
            out.append([step[t].logprob for step, t in zip(steps, ids)])
        return out

    def answer_probs(self, prompts: Sequence[Prompt], words: Sequence[str]) -> list[dict[str, float]]:
        from vllm import SamplingParams

        prompts = check_prompts(prompts)
        token_ids = answer_token_ids(self.tokenizer, words)
        params = SamplingParams(
            max_tokens=1, temperature=0.0, logprob_token_ids=sorted(set(token_ids)), detokenize=False
        )
        out = []
        for output in self._run([self._request(p) for p in prompts], params):
            first = output.outputs[0].logprobs[0]
            out.append({w: math.exp(first[t].logprob) for w, t in zip(words, token_ids)})
        return out
