"""A small byte-level BPE tokenizer trained on ShapesWorld text.

Why byte-level: any text (a hallucinated word, an emoji, a splitter prompt) must round-trip,
so nothing is ever `<unk>`. Why trained on world text: colors, shapes, sizes and yes/no are
then single tokens, which keeps sequences short and makes the labeler's first-step
"yes"/"no" probability one token's probability.

There is no post-processor: the tokenizer never adds BOS/EOS by itself. The chat format
(`rlaifv.models.chat`) writes "<s>" into the prompt text and "</s>" after the answer, so
every consumer (HF, vLLM, training) gets the same ids whatever `add_special_tokens` says.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from rlaifv.world.vocab import COLORS, DESCRIBE_QUESTIONS, OBJECTS, SHAPES, SIZES, YESNO_TEMPLATE

PAD, BOS, EOS, IMAGE, UNK = "<pad>", "<s>", "</s>", "<image>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, IMAGE, UNK)  # ids 0..4 in this order
ANSWER_WORDS = ("yes", "no", "Yes", "No")

# Prompt words of METHOD.md's splitter / converter steps (so tool prompts tokenise compactly).
_TOOL_TEXT = (
    "You are an expert in extracting facts from the given question-answer pair for an image. "
    "Your task is to extract and rewrite the facts mentioned in the question-answer pair into "
    "self-contained sentences. Exclude opinions or subjective statements.\n\n"
    "You should present your result in the following format:\n### Facts:\n"
    "- {Extracted fact 1}\n- {Extracted fact 2}\n- ...\n\n### Question-answer pair:\n"
    "Question: {question}\nAnswer: {answer}",
    "Turn each declarative sentence into a general question, keeping negations. "
    "There is no red circle. Is there no red circle?",
)


def _caption(objects: Sequence[str]) -> str:
    """World caption convention: "There is a A, a B and a C." (see rlaifv.world.vocab)."""
    items = [f"a {o}" for o in objects]
    listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return f"There is {listed}."


def world_corpus() -> list[str]:
    """Deterministic training text: captions (with and without sizes), questions, answers."""
    sized = [f"{size} {obj}" for size in SIZES for obj in OBJECTS]
    lines: list[str] = []
    for pool in (list(OBJECTS), sized):
        k = len(pool)
        for i, obj in enumerate(pool):
            others = [pool[(i * 7 + 3) % k], pool[(i * 5 + 1) % k], pool[(i * 11 + 2) % k]]
            for n in range(4):
                lines.append(_caption([obj, *others[:n]]))
    lines += [YESNO_TEMPLATE.format(obj=obj) for obj in OBJECTS + tuple(sized)]
    lines += list(DESCRIBE_QUESTIONS) + list(_TOOL_TEXT)
    words = list(ANSWER_WORDS) + list(COLORS) + list(SHAPES) + list(SIZES)
    # bare and space-prefixed forms, so both "yes" and " yes" (Ġyes) become single tokens
    lines += words * 4 + [" " + w for w in words] * 4
    lines += ["USER: <image>\nDescribe the image. ASSISTANT: There is a red circle.</s>"] * 4
    return lines


def build_tokenizer(
    corpus: Iterable[str] | None = None,
    vocab_size: int = 512,
    extra_special_tokens: Sequence[str] = (),
    image_token: str = IMAGE,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `corpus` (default: `world_corpus()`); deterministic.

    Ids 0..4 are SPECIAL_TOKENS, then `extra_special_tokens` (e.g. Qwen2-VL's
    "<|image_pad|>"), then the 256 byte symbols, then merges. The vocabulary stops below
    `vocab_size` when the corpus has no more pairs to merge. `image_token` is the special
    token the processor expands into image features ("<image>" for LLaVA, "<|image_pad|>"
    for Qwen2-VL); it must be one of the special tokens.
    """
    lines = list(world_corpus() if corpus is None else corpus)
    if not lines:
        raise ValueError("build_tokenizer: corpus is empty")
    specials = list(SPECIAL_TOKENS) + [t for t in extra_special_tokens if t not in SPECIAL_TOKENS]
    if image_token not in specials:
        raise ValueError(f"build_tokenizer: image_token {image_token!r} is not in the special tokens {specials}")
    min_size = len(specials) + 256
    if vocab_size < min_size:
        raise ValueError(f"build_tokenizer: vocab_size={vocab_size} < {min_size} (specials + 256 bytes)")
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=1,
        show_progress=False,
    )
    bpe.train_from_iterator(lines, trainer)
    return wrap_tokenizer(bpe, image_token)


def wrap_tokenizer(bpe: Tokenizer, image_token: str = IMAGE) -> PreTrainedTokenizerFast:
    """Wrap a `tokenizers.Tokenizer` as the transformers tokenizer every consumer loads."""
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        extra_special_tokens={"image_token": image_token},
        model_max_length=512,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )


def single_token_id(tokenizer: PreTrainedTokenizerFast, text: str) -> int:
    """Id of `text` when it is exactly one token; a clear error otherwise."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"{text!r} is not a single token: {tokenizer.convert_ids_to_tokens(ids)}")
    return ids[0]
