"""vLLM loads and runs the tiny Qwen2-VL (M-RoPE, dynamic image grid) like transformers does."""
import pytest
import torch

from rlaifv.engine import make_engine
from rlaifv.engine.base import Prompt, SamplingSpec

pytestmark = [pytest.mark.cpu, pytest.mark.slow]


@pytest.fixture(scope="module")
def engine(tiny_qwen2vl):
    torch.set_num_threads(1)
    vllm = make_engine("vllm", tiny_qwen2vl, enforce_eager=True)
    yield vllm
    vllm.close()


def test_generates_with_an_image(engine, make_image):
    prompts = [Prompt("Describe the image in detail.", make_image()), Prompt("What objects are in the image?")]
    out = engine.generate(prompts, SamplingSpec(n=3, max_tokens=6, seed=0))
    assert [len(r) for r in out] == [3, 3]
    assert all(1 <= len(c.token_ids) <= 6 and len(c.logprobs) == len(c.token_ids) for r in out for c in r)
    assert len({tuple(c.token_ids) for c in out[0]}) == 3


def test_score_and_answer_probs_match_hf(engine, tiny_qwen2vl, make_image):
    prompts = [Prompt("Is there a red square in the image? Please answer yes or no.", make_image()),
               Prompt("Describe the image.")]
    responses = ["yes", "There is a red square."]
    hf = make_engine("hf", tiny_qwen2vl)
    v, h = engine.score(prompts, responses), hf.score(prompts, responses)
    assert max(abs(a - b) for x, y in zip(v, h) for a, b in zip(x, y)) < 1e-4
    pv, ph = engine.answer_probs(prompts, ["yes", "No"]), hf.answer_probs(prompts, ["yes", "No"])
    assert all(abs(x[w] - y[w]) < 1e-4 for x, y in zip(pv, ph) for w in ("yes", "No"))
