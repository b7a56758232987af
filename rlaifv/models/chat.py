"""The one prompt format of the project (training, HF, vLLM, serving all use it).

LLaVA-1.5 style, single turn:

    prompt   = "<s>USER: {placeholder}\\n{question} ASSISTANT:"     (no placeholder, no "\\n"
                                                                     without an image)
    response = " {answer}</s>"

`placeholder` is "<image>" for LLaVA and "<|vision_start|><|image_pad|><|vision_end|>" for
Qwen2-VL. The prompt text holds ONE image token; the model's processor expands it:
- LLaVA: "<image>" -> (image_size / patch_size)^2 copies (CLS dropped by the "default"
  feature strategy), e.g. 48/8 -> 36 copies; the vision tower fills their embeddings.
- Qwen2-VL: "<|image_pad|>" -> grid_t*grid_h*grid_w / merge_size^2 copies (image resized
  to multiples of 28 within min/max pixels: 48x48 -> 56x56 -> 4x4 patches -> 4 copies).
vLLM does the same expansion itself when given the *unexpanded* ids (`prompt_token_ids`).

The tokenizer adds no special tokens itself: "<s>" is in the prompt text and "</s>" ends the
response, so `prompt + response` tokenises exactly as `prompt` and `response` apart
(the byte-level pre-tokenizer splits before the response's leading space).
A completion's text is its decoded tokens minus special tokens and minus the one leading
space the format puts after "ASSISTANT:"; `response_token_ids(text)` inverts that.
"""
from __future__ import annotations

from typing import Any

import torch
from PIL import Image

BOS, EOS = "<s>", "</s>"
LLAVA_PLACEHOLDER = "<image>"
QWEN2VL_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
_PLACEHOLDERS = {"LlavaProcessor": LLAVA_PLACEHOLDER, "Qwen2VLProcessor": QWEN2VL_PLACEHOLDER}
TOKEN_ALIGNED_KEYS = ("mm_token_type_ids", "token_type_ids")  # processor outputs with one value per token
_RESERVED = ("<image>", "<|image_pad|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>", BOS, EOS, "<pad>")


def chat_template(placeholder: str) -> str:
    """Jinja chat template rendering the format above (stored on processor and tokenizer).

    Content may be a string or a list of {"type": "image"} / {"type": "text", "text": ...}
    parts; images come first, as in the Python format. Multi-turn renders
    "USER: q1 ASSISTANT: a1</s>USER: q2 ASSISTANT:".
    """
    ph = placeholder.replace("\n", "\\n")
    return (
        "{{ bos_token }}{% for message in messages %}"
        "{% if message['content'] is string %}{% set text = message['content'] %}{% set n_img = 0 %}"
        "{% else %}{% set text = message['content'] | selectattr('type', 'equalto', 'text')"
        " | map(attribute='text') | join('') %}"
        "{% set n_img = message['content'] | selectattr('type', 'equalto', 'image') | list | length %}{% endif %}"
        "{% if message['role'] == 'system' %}{{ text }} "
        "{% elif message['role'] == 'user' %}USER: {% for i in range(n_img) %}" + ph + "\n{% endfor %}{{ text }} "
        "{% elif message['role'] == 'assistant' %}ASSISTANT: {{ text }}{{ eos_token }}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )


def image_placeholder(processor: Any) -> str:
    """The text that stands for one image in a prompt, for this processor's model family."""
    name = type(processor).__name__
    if name not in _PLACEHOLDERS:
        raise ValueError(f"image_placeholder: unsupported processor {name}; known: {sorted(_PLACEHOLDERS)}")
    return _PLACEHOLDERS[name]


def tokenizer_of(processor_or_tokenizer: Any) -> Any:
    """The tokenizer inside a processor (or the argument itself when it is a tokenizer)."""
    return getattr(processor_or_tokenizer, "tokenizer", processor_or_tokenizer)


def _check_text(field: str, text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{field} must be a str, got {type(text).__name__}")
    bad = [t for t in _RESERVED if t in text]
    if bad:
        raise ValueError(f"{field} contains reserved special token(s) {bad}: {text[:80]!r}")
    return text


def prompt_text(processor: Any, question: str, has_image: bool = True) -> str:
    """Prompt text with ONE (unexpanded) image placeholder, ending with "ASSISTANT:"."""
    _check_text("question", question)
    if not question.strip():
        raise ValueError("question is empty")
    image = image_placeholder(processor) + "\n" if has_image else ""
    return f"{BOS}USER: {image}{question} ASSISTANT:"


def response_suffix() -> str:
    """What closes every answer; generation stops at this token (the tokenizer's eos)."""
    return EOS


def response_text(answer: str) -> str:
    """The answer as it follows the prompt in training text: " {answer}</s>"."""
    return " " + _check_text("answer", answer) + EOS


def response_token_ids(processor_or_tokenizer: Any, answer: str, add_eos: bool = True) -> list[int]:
    """Token ids of an answer as the model would generate it after "ASSISTANT:" (+ eos)."""
    tokenizer = tokenizer_of(processor_or_tokenizer)
    ids = tokenizer.encode(" " + _check_text("answer", answer), add_special_tokens=False)
    return ids + [tokenizer.eos_token_id] if add_eos else ids


def completion_text(processor_or_tokenizer: Any, token_ids: list[int]) -> str:
    """Text of generated ids: special tokens dropped, the format's one leading space removed."""
    text = tokenizer_of(processor_or_tokenizer).decode(token_ids, skip_special_tokens=True)
    return text[1:] if text.startswith(" ") else text


def prompt_inputs(processor: Any, question: str, image: Image.Image | None) -> dict[str, torch.Tensor]:
    """Processor output for one prompt: input_ids [1, L] with the image token EXPANDED,
    attention_mask, and the image tensors (LLaVA: pixel_values [1, 3, H, W]; Qwen2-VL:
    pixel_values [patches, dim] + image_grid_thw [1, 3])."""
    text = prompt_text(processor, question, has_image=image is not None)
    if image is None:
        return dict(processor(text=[text], return_tensors="pt"))
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image or None, got {type(image).__name__}")
    return dict(processor(text=[text], images=[image.convert("RGB")], return_tensors="pt"))


def prompt_token_ids(processor: Any, question: str, has_image: bool = True) -> list[int]:
    """Prompt ids with ONE unexpanded image token (what vLLM's `prompt_token_ids` takes)."""
    text = prompt_text(processor, question, has_image=has_image)
    return tokenizer_of(processor).encode(text, add_special_tokens=False)


def encode_example(processor: Any, question: str, answer: str, image: Image.Image | None) -> dict[str, torch.Tensor]:
    """One training example: input_ids/attention_mask/labels as 1-D LongTensors (labels are
    -100 on the prompt, incl. image tokens), plus the image tensors of `prompt_inputs`
    (Qwen2-VL also gets a 1-D `mm_token_type_ids`: 1 on image tokens, 0 elsewhere).

    Batching: pad input_ids with pad_token_id, labels with -100, attention_mask and
    mm_token_type_ids with 0; LLaVA pixel_values / Qwen2-VL pixel_values and image_grid_thw
    concatenate along dim 0.
    """
    inputs = prompt_inputs(processor, question, image)
    prompt_ids = inputs.pop("input_ids")[0]
    inputs.pop("attention_mask")
    answer_ids = torch.tensor(response_token_ids(processor, answer), dtype=prompt_ids.dtype)
    example = {
        "input_ids": torch.cat([prompt_ids, answer_ids]),
        "attention_mask": torch.ones(len(prompt_ids) + len(answer_ids), dtype=torch.long),
        "labels": torch.cat([torch.full_like(prompt_ids, -100), answer_ids]),
    }
    for key in TOKEN_ALIGNED_KEYS:
        if key in inputs:  # per-token extras (text = 0) extend over the answer
            row = inputs.pop(key)[0]
            example[key] = torch.cat([row, torch.zeros(len(answer_ids), dtype=row.dtype)])
    return {**example, **inputs}
