"""vLLM backend on the tiny LLaVA: seeded sampling, and parity with the HF backend (fp32)."""
import pytest
import torch

from rlaifv.engine import make_engine
from rlaifv.engine.base import Prompt, SamplingSpec
from rlaifv.engine.hf import _append_tokens

pytestmark = [pytest.mark.cpu, pytest.mark.slow]

YESNO = "Is there a red circle in the image? Please answer yes or no."
WORDS = ["yes", "no", "Yes", "No"]
RESPONSES = ["There is a red circle and a blue star.", "yes", "There is a small green triangle, a large purple square."]


@pytest.fixture(scope="module")
def engines(tiny_llava):
    torch.set_num_threads(1)
    # eager: a cold torch.compile of a new model costs ~30 s; outputs are the same
    vllm = make_engine("vllm", tiny_llava, enforce_eager=True)
    hf = make_engine("hf", tiny_llava)
    yield vllm, hf
    vllm.close()


@pytest.fixture
def mixed(make_image):
    return [
        Prompt("Describe the image in detail.", make_image((220, 40, 40))),
        Prompt(YESNO, make_image((30, 40, 220), shape="circle")),
        Prompt("What objects are in the image?"),
    ]


def test_seeded_sampling_is_reproducible_and_samples_differ(engines, mixed):
    vllm, _ = engines
    spec = SamplingSpec(n=4, temperature=0.7, max_tokens=8, seed=11)
    a = vllm.generate(mixed, spec)
    b = vllm.generate(mixed, spec)
    assert [[c.token_ids for c in r] for r in a] == [[c.token_ids for c in r] for r in b]
    assert all(len({tuple(c.token_ids) for c in r}) == 4 for r in a)
    alone = vllm.generate(mixed[2:], spec, seeds=[13])  # same seed as prompt 2 above
    assert [c.token_ids for c in alone[0]] == [c.token_ids for c in a[2]]


def test_score_matches_hf(engines, mixed):
    vllm, hf = engines
    v, h = vllm.score(mixed, RESPONSES), hf.score(mixed, RESPONSES)
    assert [len(x) for x in v] == [len(hf.response_token_ids(r)) for r in RESPONSES] == [len(x) for x in h]
    diff = max(abs(a - b) for x, y in zip(v, h) for a, b in zip(x, y))
    assert diff < 1e-4, diff


def test_answer_probs_match_hf(engines, mixed):
    vllm, hf = engines
    v, h = vllm.answer_probs(mixed, WORDS), hf.answer_probs(mixed, WORDS)
    for x, y in zip(v, h):
        assert set(x) == set(WORDS)
        for w in WORDS:
            assert abs(x[w] - y[w]) < 1e-4 and abs(x[w] / y[w] - 1) < 1e-3


def test_sampled_logprobs_are_raw_and_match_hf_teacher_forcing(engines, mixed):
    vllm, hf = engines
    out = vllm.generate(mixed, SamplingSpec(n=2, temperature=1.5, top_p=0.8, max_tokens=8, seed=2))
    for prompt, row in zip(mixed, out):
        for c in row:
            assert len(c.logprobs) == len(c.token_ids)
            base = hf._inputs(prompt)
            with torch.inference_mode():
                lp = hf._forward_logprobs([_append_tokens(base, torch.tensor([c.token_ids]))])[0]
            start = base["input_ids"].shape[1] - 1
            expected = lp[torch.arange(start, start + len(c.token_ids)), torch.tensor(c.token_ids)]
            assert torch.allclose(torch.tensor(c.logprobs), expected, atol=1e-4)


def test_completions_stop_at_eos_with_eos_in_ids(engines, mixed):
    vllm, _ = engines
    out = vllm.generate(mixed, SamplingSpec(n=16, temperature=1.0, max_tokens=64, seed=3))
    eos = vllm.tokenizer.eos_token_id
    finished = [c for r in out for c in r if eos in c.token_ids]
    assert finished
    assert all(c.token_ids[-1] == eos and c.token_ids.count(eos) == 1 for c in finished)
    assert all(len(c.token_ids) == 64 for r in out for c in r if eos not in c.token_ids)


def test_greedy_is_deterministic_and_penalty_means_the_same_as_hf(engines, mixed):
    vllm, hf = engines
    spec = SamplingSpec(n=1, temperature=0.0, max_tokens=6)
    assert [r[0].token_ids for r in vllm.generate(mixed, spec)] == [r[0].token_ids for r in vllm.generate(mixed, spec)]
    # not required in general (random weights: near-ties), but a check of repetition-penalty
    # semantics (prompt + output tokens, incl. image tokens): both backends pick the same tokens
    spec = SamplingSpec(n=1, temperature=0.0, max_tokens=8, repetition_penalty=1.5)
    assert [r[0].token_ids for r in vllm.generate(mixed, spec)] == [r[0].token_ids for r in hf.generate(mixed, spec)]


def test_bad_input_is_named(engines, mixed):
    vllm, _ = engines
    with pytest.raises(ValueError, match="1 responses for 3 prompts"):
        vllm.score(mixed, ["yes"])
    with pytest.raises(ValueError, match="question contains reserved"):
        vllm.generate([Prompt("what is <image>?")], SamplingSpec())
