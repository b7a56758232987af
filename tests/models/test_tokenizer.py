import pytest

from rlaifv.models.tokenizer import ANSWER_WORDS, SPECIAL_TOKENS, build_tokenizer, single_token_id, world_corpus
from rlaifv.world.vocab import COLORS, DESCRIBE_QUESTIONS, SHAPES, SIZES, YESNO_TEMPLATE

pytestmark = pytest.mark.cpu


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_special_tokens_have_fixed_ids_and_vocab_is_full(tok):
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 4]) == list(SPECIAL_TOKENS)
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.image_token == "<image>" and tok.convert_tokens_to_ids("<image>") == 3
    assert len(tok) == 512


@pytest.mark.parametrize("text", [
    "There is a red circle, a blue star and a green square.",
    "héllo wörld 😀 naïve café\ttabs\nnewlines  double  spaces",
    "reduce hallucination: 12.5% -> 3%",
    "",
])
def test_any_text_round_trips(tok, text):
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


def test_world_words_are_single_tokens(tok):
    for word in list(ANSWER_WORDS) + list(COLORS) + list(SHAPES) + list(SIZES):
        for form in (word, " " + word):
            single_token_id(tok, form)  # raises with the pieces if split
    # the four answer forms after "ASSISTANT:" are four different tokens
    assert len({single_token_id(tok, " " + w) for w in ANSWER_WORDS}) == 4


def test_caption_tokenises_word_by_word_and_adds_no_special_tokens(tok):
    ids = tok.encode("There is a red circle.")
    assert tok.convert_ids_to_tokens(ids) == ["There", "Ġis", "Ġa", "Ġred", "Ġcircle", "."]
    assert tok("red").input_ids == [single_token_id(tok, "red")]  # no BOS/EOS added


def test_special_tokens_in_text_are_single_ids(tok):
    ids = tok.encode("<s>USER: <image>\nhi</s>")
    assert ids[0] == 1 and ids[-1] == 2 and ids.count(3) == 1
    assert tok.decode(ids, skip_special_tokens=True) == "USER: \nhi"


def test_build_is_deterministic_and_extra_specials_follow_the_fixed_ones():
    a, b = build_tokenizer(), build_tokenizer()
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    q = build_tokenizer(extra_special_tokens=["<|vision_start|>", "<|image_pad|>"], image_token="<|image_pad|>")
    assert q.convert_tokens_to_ids(["<|vision_start|>", "<|image_pad|>"]) == [5, 6]
    assert q.image_token == "<|image_pad|>"


def test_corpus_covers_the_world_questions():
    corpus = world_corpus()
    assert set(DESCRIBE_QUESTIONS) <= set(corpus)
    assert YESNO_TEMPLATE.format(obj="red circle") in corpus
    assert "There is a red circle." in corpus


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="corpus is empty"):
        build_tokenizer([])
    with pytest.raises(ValueError, match="vocab_size=100"):
        build_tokenizer(vocab_size=100)
    with pytest.raises(ValueError, match="image_token"):
        build_tokenizer(image_token="<img>")
    with pytest.raises(ValueError, match="not a single token"):
        single_token_id(build_tokenizer(), "hallucination")
