import pytest
import torch
from transformers import AutoProcessor

from rlaifv.models.chat import (
    completion_text,
    encode_example,
    prompt_inputs,
    prompt_text,
    prompt_token_ids,
    response_text,
    response_token_ids,
)

pytestmark = pytest.mark.cpu

Q = "Is there a red circle in the image? Please answer yes or no."


@pytest.fixture(scope="module")
def llava_proc(tiny_llava):
    return AutoProcessor.from_pretrained(tiny_llava)


@pytest.fixture(scope="module")
def qwen_proc(tiny_qwen2vl):
    return AutoProcessor.from_pretrained(tiny_qwen2vl)


def test_prompt_text_is_llava_style(llava_proc, qwen_proc):
    assert prompt_text(llava_proc, "Describe.") == "<s>USER: <image>\nDescribe. ASSISTANT:"
    assert prompt_text(llava_proc, "Describe.", has_image=False) == "<s>USER: Describe. ASSISTANT:"
    assert prompt_text(qwen_proc, "Describe.") == (
        "<s>USER: <|vision_start|><|image_pad|><|vision_end|>\nDescribe. ASSISTANT:"
    )
    assert response_text("yes") == " yes</s>"


@pytest.mark.parametrize("which", ["llava_proc", "qwen_proc"])
def test_stored_chat_template_renders_the_same_text(which, request):
    proc = request.getfixturevalue(which)
    user = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": Q}]}
    rendered = proc.apply_chat_template([user], add_generation_prompt=True, tokenize=False)
    assert rendered == prompt_text(proc, Q)
    full = proc.apply_chat_template([user, {"role": "assistant", "content": "yes"}], tokenize=False)
    assert full == prompt_text(proc, Q) + response_text("yes")
    text_only = proc.tokenizer.apply_chat_template([{"role": "user", "content": Q}], add_generation_prompt=True,
                                                   tokenize=False)
    assert text_only == prompt_text(proc, Q, has_image=False)


@pytest.mark.parametrize("which,image_tokens", [("llava_proc", 36), ("qwen_proc", 4)])
def test_encode_example_masks_prompt_and_matches_full_text(which, image_tokens, request, make_image):
    proc = request.getfixturevalue(which)
    image = make_image()
    ex = encode_example(proc, Q, "yes", image)
    tok = proc.tokenizer
    answer = [tok.convert_tokens_to_ids("Ġyes"), tok.eos_token_id]
    assert ex["input_ids"][-2:].tolist() == answer
    assert (ex["labels"] != -100).sum() == 2 and ex["labels"][-2:].tolist() == answer
    assert int((ex["input_ids"] == proc.image_token_id).sum()) == image_tokens
    # prompt and answer tokenised apart == the whole training text tokenised at once
    whole = proc(text=[prompt_text(proc, Q) + response_text("yes")], images=[image], return_tensors="pt")
    assert torch.equal(whole["input_ids"][0], ex["input_ids"])
    assert ex["attention_mask"].tolist() == [1] * len(ex["input_ids"])
    # vLLM gets the same prompt with ONE image token, which it expands to image_tokens
    unexpanded = prompt_token_ids(proc, Q)
    assert len(unexpanded) + image_tokens - 1 == len(ex["input_ids"]) - 2


def test_qwen_example_carries_token_types_over_the_answer(qwen_proc, make_image):
    ex = encode_example(qwen_proc, Q, "no", make_image())
    assert ex["mm_token_type_ids"].shape == ex["input_ids"].shape
    assert int(ex["mm_token_type_ids"].sum()) == 4 and ex["mm_token_type_ids"][-2:].tolist() == [0, 0]
    assert ex["image_grid_thw"].tolist() == [[1, 4, 4]]


def test_text_only_example_has_no_pixels(llava_proc):
    ex = encode_example(llava_proc, "Describe the image.", "There is a red circle.", None)
    assert "pixel_values" not in ex
    assert int((ex["input_ids"] == llava_proc.image_token_id).sum()) == 0


def test_response_ids_and_completion_text_invert_each_other(llava_proc):
    text = "There is a small blue star and a large red circle."
    ids = response_token_ids(llava_proc, text)
    assert ids[-1] == llava_proc.tokenizer.eos_token_id
    assert completion_text(llava_proc, ids) == text
    assert response_token_ids(llava_proc, text, add_eos=False) == ids[:-1]


def test_prompt_inputs_expand_the_image(llava_proc, make_image):
    inputs = prompt_inputs(llava_proc, "Describe.", make_image())
    assert inputs["pixel_values"].shape == (1, 3, 48, 48)
    assert inputs["input_ids"].shape[1] == len(prompt_token_ids(llava_proc, "Describe.")) + 35


def test_bad_input_is_named(llava_proc):
    with pytest.raises(ValueError, match="question contains reserved"):
        prompt_text(llava_proc, "What is <image>?")
    with pytest.raises(ValueError, match="question is empty"):
        prompt_text(llava_proc, "  ")
    with pytest.raises(TypeError, match="answer must be a str"):
        response_token_ids(llava_proc, None)
    with pytest.raises(ValueError, match="answer contains reserved"):
        response_text("yes</s>")
    with pytest.raises(ValueError, match="unsupported processor"):
        prompt_text(llava_proc.tokenizer, "Describe.")
