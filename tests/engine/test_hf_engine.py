import math

import pytest
import torch

from rlaifv.engine import make_engine
from rlaifv.engine.base import Prompt, SamplingSpec, sample_seed
from rlaifv.engine.hf import _append_tokens, top_p_filter
from rlaifv.models.chat import prompt_text, response_text

pytestmark = pytest.mark.cpu

YESNO = "Is there a red circle in the image? Please answer yes or no."
WORDS = ["yes", "no", "Yes", "No"]


@pytest.fixture(scope="module")
def llava(tiny_llava):
    torch.set_num_threads(1)
    return make_engine("hf", tiny_llava, batch_size=32)


@pytest.fixture
def mixed(make_image):
    return [
        Prompt("Describe the image in detail.", make_image((220, 40, 40))),
        Prompt(YESNO, make_image((30, 40, 220), shape="circle")),
        Prompt("What objects are in the image?"),  # text only, different length
    ]


def teacher_forced(engine, prompt, token_ids):
    """log-probs of token_ids after prompt, from one plain forward of the model."""
    row = engine._inputs(prompt)
    ids = torch.tensor([token_ids])
    with torch.inference_mode():
        logprobs = engine._forward_logprobs([_append_tokens(row, ids)])[0]
    start = row["input_ids"].shape[1] - 1
    return logprobs[torch.arange(start, start + len(token_ids)), ids[0]]


def test_seeded_sampling_is_reproducible_and_samples_differ(llava, mixed):
    spec = SamplingSpec(n=3, temperature=0.7, max_tokens=8, seed=5)
    a = llava.generate(mixed, spec)
    b = llava.generate(mixed, spec)
    assert [[c.token_ids for c in row] for row in a] == [[c.token_ids for c in row] for row in b]
    assert all(len(row) == 3 for row in a)
    assert all(len({tuple(c.token_ids) for c in row}) == 3 for row in a)  # n samples differ
    other = llava.generate(mixed, SamplingSpec(n=3, temperature=0.7, max_tokens=8, seed=6))
    assert [c.token_ids for c in other[0]] != [c.token_ids for c in a[0]]


def test_a_sample_does_not_depend_on_its_batch(llava, mixed):
    spec = SamplingSpec(n=2, temperature=1.0, max_tokens=6, seed=0)
    together = llava.generate(mixed, spec)
    alone = llava.generate(mixed[1:2], spec, seeds=[1])  # prompt 1 has seed 0 + 1 by default
    assert [c.token_ids for c in alone[0]] == [c.token_ids for c in together[1]]
    llava.batch_size = 1
    try:
        one_by_one = llava.generate(mixed, spec)
    finally:
        llava.batch_size = 32
    assert [[c.token_ids for c in r] for r in one_by_one] == [[c.token_ids for c in r] for r in together]


def test_logprobs_are_raw_and_match_teacher_forcing(llava, mixed):
    out = llava.generate(mixed, SamplingSpec(n=1, temperature=2.0, top_p=0.5, max_tokens=6, seed=1))
    for prompt, (completion,) in zip(mixed, out):
        assert len(completion.logprobs) == len(completion.token_ids)
        expected = teacher_forced(llava, prompt, completion.token_ids)
        assert torch.allclose(torch.tensor(completion.logprobs), expected, atol=1e-5)


def test_sampled_logprobs_equal_score_of_the_text(tiny_llava, mixed):
    """What lets the serving scorer skip the aligned model's forward on finished samples. A
    random model's tokens rarely re-tokenise to themselves, so first teach a copy one caption."""
    from rlaifv.engine.base import sampled_logprobs

    engine = make_engine("hf", tiny_llava, batch_size=32)
    prompt, caption = mixed[0], "There is a red square."
    row = engine._inputs(prompt)
    ids = torch.tensor([engine.response_token_ids(caption)])
    start = row["input_ids"].shape[1] - 1
    opt = torch.optim.Adam(engine.model.parameters(), lr=1e-2)
    for _ in range(40):
        logits = engine.model(**_append_tokens(row, ids), use_cache=False).logits[0, start:start + ids.shape[1]]
        loss = torch.nn.functional.cross_entropy(logits.float(), ids[0])
        loss.backward()
        opt.step()
        opt.zero_grad()
    engine.model.eval()
    (row_out,) = engine.generate([prompt], SamplingSpec(n=8, temperature=1.0, max_tokens=12, seed=3))
    reused = 0
    for c in row_out:
        own = sampled_logprobs(engine, c.text, c.token_ids, c.logprobs)
        if c.token_ids[-1] != engine.eos_id:
            assert own is None  # truncated: its text scores with an eos the sample never drew
        if own is not None:
            reused += 1
            assert torch.allclose(torch.tensor(own), torch.tensor(engine.score([prompt], [c.text])[0]), atol=1e-5)
    assert reused >= 4


def test_greedy_picks_the_argmax(llava, mixed):
    (row,) = llava.generate(mixed[:1], SamplingSpec(n=1, temperature=0.0, max_tokens=5))
    ids = row[0].token_ids
    with torch.inference_mode():
        base = llava._inputs(mixed[0])
        for t in range(len(ids)):
            logprobs = llava._forward_logprobs([_append_tokens(base, torch.tensor([ids[:t]], dtype=torch.long))])
            assert int(logprobs[0, -1].argmax()) == ids[t]
    assert row[0].logprobs == pytest.approx(teacher_forced(llava, mixed[0], ids).tolist(), abs=1e-5)


def test_repetition_penalty_changes_greedy_and_stays_batch_independent(llava, mixed):
    plain = llava.generate(mixed, SamplingSpec(n=1, temperature=0.0, max_tokens=8))
    spec = SamplingSpec(n=1, temperature=0.0, max_tokens=8, repetition_penalty=1.5)
    penalised = llava.generate(mixed, spec)
    assert [r[0].token_ids for r in penalised] != [r[0].token_ids for r in plain]
    for row in penalised:  # random weights repeat greedily; a 1.5 penalty breaks the loops
        ids = row[0].token_ids
        assert len(set(ids)) > len(ids) // 2
    alone = llava.generate(mixed[2:], spec)  # text-only prompt: longest padding in the batch above
    assert alone[0][0].token_ids == penalised[2][0].token_ids
    # log-probs stay raw: the penalty only moves the choice
    assert penalised[0][0].logprobs == pytest.approx(
        teacher_forced(llava, mixed[0], penalised[0][0].token_ids).tolist(), abs=1e-5)


def test_completions_stop_at_eos(llava, mixed):
    out = llava.generate(mixed, SamplingSpec(n=16, temperature=1.0, max_tokens=64, seed=3))
    finished = [c for row in out for c in row if llava.eos_id in c.token_ids]
    assert finished  # ~1/512 per step: 48 samples x 64 steps end some (deterministic seeds)
    for c in finished:
        assert c.token_ids[-1] == llava.eos_id and c.token_ids.count(llava.eos_id) == 1
        assert "</s>" not in c.text
    assert all(len(c.token_ids) == 64 for row in out for c in row if llava.eos_id not in c.token_ids)


def test_score_equals_a_hand_built_forward(llava, make_image):
    image = make_image()
    response = "There is a red circle and a blue star."
    (scored,) = llava.score([Prompt(YESNO, image)], [response])
    proc = llava.processor
    full = proc(text=[prompt_text(proc, YESNO) + response_text(response)], images=[image], return_tensors="pt")
    with torch.inference_mode():
        logits = llava.model(**full).logits[0].log_softmax(-1)
    ids = llava.response_token_ids(response)
    n = full["input_ids"].shape[1]
    expected = [float(logits[n - len(ids) - 1 + k, t]) for k, t in enumerate(ids)]
    assert len(scored) == len(ids) == 11  # 10 word/punctuation tokens + eos
    assert scored == pytest.approx(expected, abs=1e-5)


def test_score_is_padding_invariant(llava, mixed):
    responses = ["yes", "There is a small green triangle.", "no"]
    batched = llava.score(mixed, responses)
    single = [llava.score([p], [r])[0] for p, r in zip(mixed, responses)]
    for a, b in zip(batched, single):
        assert a == pytest.approx(b, abs=1e-5)


def test_answer_probs_are_first_step_softmax(llava, mixed):
    probs = llava.answer_probs(mixed, WORDS)
    for prompt, p in zip(mixed, probs):
        assert set(p) == set(WORDS)
        for word in WORDS:
            first = llava.response_token_ids(word)[0]
            expected = math.exp(float(teacher_forced(llava, prompt, [first])[0]))
            assert p[word] == pytest.approx(expected, rel=1e-5)
    assert len({round(v, 9) for v in probs[0].values()}) == 4  # four different tokens


def test_top_p_filter_keeps_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(logits, 0.7))
    assert kept.tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.1)).tolist() == [[True, False, False, False]]
    assert torch.equal(top_p_filter(logits, 1.0), logits)


def test_sample_seed_mixes_prompt_and_sample():
    seeds = {sample_seed(s, j) for s in range(50) for j in range(8)}
    assert len(seeds) == 400  # no seed + index overlap between prompts
    assert all(0 <= s < 2**31 for s in seeds)


def test_qwen2vl_engine_batches_image_and_text_prompts(tiny_qwen2vl, mixed):
    engine = make_engine("hf", tiny_qwen2vl)
    out = engine.generate(mixed, SamplingSpec(n=2, max_tokens=5, seed=0))
    assert [len(r) for r in out] == [2, 2, 2]
    image_pad = engine.processor.image_token_id
    for prompt, row in zip(mixed, out):
        # a random model may sample "<|image_pad|>"; a forward pass cannot take it as text
        ids = row[0].token_ids[: row[0].token_ids.index(image_pad)] if image_pad in row[0].token_ids else row[0].token_ids
        expected = teacher_forced(engine, prompt, ids)
        assert torch.allclose(torch.tensor(row[0].logprobs[: len(ids)]), expected, atol=1e-5)
    scored = engine.score(mixed, ["yes", "no", "There is a red circle."])
    assert [len(s) for s in scored] == [2, 2, 7]
    assert engine.score(mixed[2:], ["There is a red circle."])[0] == pytest.approx(scored[2], abs=1e-5)


def test_bad_input_is_named(llava, mixed):
    with pytest.raises(ValueError, match="2 seeds for 3 prompts"):
        llava.generate(mixed, SamplingSpec(), seeds=[1, 2])
    with pytest.raises(ValueError, match="2 responses for 3 prompts"):
        llava.score(mixed, ["a", "b"])
    with pytest.raises(TypeError, match=r"prompts\[1\] must be a Prompt"):
        llava.generate([mixed[0], "hi"], SamplingSpec())
    with pytest.raises(ValueError, match="needs n == 1"):
        SamplingSpec(n=2, temperature=0.0)
    with pytest.raises(ValueError, match="unknown backend"):
        make_engine("tgi", "x")
