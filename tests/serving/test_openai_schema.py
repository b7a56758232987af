"""Chat request validation: every bad request is a 4xx ApiError naming the field."""
import json

import pytest

from rlaifv.serving.openai_schema import (
    RESERVED_TEXT,
    ApiError,
    RequestLimits,
    error_body,
    parse_chat_request,
    parse_json_body,
)

pytestmark = pytest.mark.cpu
LIMITS = RequestLimits(default_n=4, max_n=8, max_tokens=64, max_body_bytes=1000, max_text_chars=100)
MODELS = ["rlaifv"]
IMAGE = "data:image/png;base64,AAAA"


def body(**overrides):
    b = {"model": "rlaifv", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Describe the image."}, {"type": "image_url", "image_url": {"url": IMAGE}}]}]}
    b.update(overrides)
    return b


def error_of(b, limits=LIMITS) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_chat_request(b, limits, MODELS)
    assert 400 <= info.value.status < 500
    return info.value


def test_valid_request_defaults_and_fields():
    r = parse_chat_request(body(), LIMITS, MODELS)
    assert (r.model, r.question, r.image_url) == ("rlaifv", "Describe the image.", IMAGE)
    assert r.image_param == "messages[0].content[1].image_url"
    assert (r.n, r.temperature, r.top_p, r.max_tokens, r.seed) == (4, 0.7, 1.0, 64, None)
    r = parse_chat_request(body(n=8, temperature=1, top_p=0.9, max_tokens=5, seed=-3), LIMITS, MODELS)
    assert (r.n, r.temperature, r.top_p, r.max_tokens, r.seed) == (8, 1.0, 0.9, 5, -3)
    assert parse_chat_request(body(best_of=3), LIMITS, MODELS).n == 3
    assert parse_chat_request(body(n=3, best_of=3, max_completion_tokens=7), LIMITS, MODELS).max_tokens == 7


def test_text_parts_join_and_image_as_plain_string():
    content = [{"type": "image_url", "image_url": IMAGE}, {"type": "text", "text": " What is "},
               {"type": "text", "text": "left? "}]
    r = parse_chat_request(body(messages=[{"role": "user", "content": content}]), LIMITS, MODELS)
    assert (r.question, r.image_url, r.image_param) == ("What is left?", IMAGE, "messages[0].content[0].image_url")


@pytest.mark.parametrize("overrides, param, code", [
    ({"n": 9}, "n", "n_too_large"),
    ({"best_of": 100}, "best_of", "n_too_large"),
    ({"n": 2, "best_of": 3}, "best_of", "invalid_value"),
    ({"n": 0}, "n", "invalid_value"),
    ({"n": "4"}, "n", "invalid_type"),
    ({"n": True}, "n", "invalid_type"),
    ({"n": 2.5}, "n", "invalid_type"),
    ({"temperature": "hot"}, "temperature", "invalid_type"),
    ({"temperature": 2.5}, "temperature", "invalid_value"),
    ({"temperature": 10**400}, "temperature", "invalid_value"),
    ({"temperature": 0, "n": 2}, "temperature", "invalid_value"),
    ({"top_p": 0}, "top_p", "invalid_value"),
    ({"max_tokens": 65}, "max_tokens", "max_tokens_too_large"),
    ({"max_tokens": [1]}, "max_tokens", "invalid_type"),
    ({"max_tokens": 5, "max_completion_tokens": 6}, "max_completion_tokens", "invalid_value"),
    ({"seed": "1"}, "seed", "invalid_type"),
    ({"seed": 2**63}, "seed", "invalid_value"),
    ({"stream": True}, "stream", "unsupported_parameter"),
    ({"tools": [{"type": "function"}]}, "tools", "unsupported_parameter"),
    ({"response_format": {"type": "json_object"}}, "response_format", "unsupported_parameter"),
    ({"model": 3}, "model", "invalid_value"),
])
def test_bad_fields(overrides, param, code):
    err = error_of(body(**overrides))
    assert (err.status, err.param, err.code) == (400, param, code)


def test_missing_and_unknown_model():
    b = body()
    del b["model"]
    assert error_of(b).param == "model"
    err = error_of(body(model="gpt-4o"))
    assert (err.status, err.code, err.param) == (404, "model_not_found", "model")
    assert "rlaifv" in err.message


@pytest.mark.parametrize("messages, param, code", [
    (None, "messages", "invalid_value"),
    ([], "messages", "invalid_value"),
    ("hi", "messages", "invalid_value"),
    (["hi"], "messages[0]", "invalid_value"),
    ([{"role": "system", "content": "be nice"}, {"role": "user", "content": "x"}], "messages[0].role", "invalid_value"),
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "messages", "invalid_value"),
    ([{"role": "user", "content": "Describe the image."}], "messages[0].content", "image_required"),
    ([{"role": "user", "content": [{"type": "text", "text": "two"}, {"type": "image_url", "image_url": {"url": IMAGE}},
                                   {"type": "image_url", "image_url": {"url": IMAGE}}]}],
     "messages[0].content", "image_required"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMAGE}}]}],
     "messages[0].content", "text_required"),
    ([{"role": "user", "content": [{"type": "text", "text": "  "}, {"type": "image_url", "image_url": {"url": IMAGE}}]}],
     "messages[0].content", "text_required"),
    ([{"role": "user", "content": [{"type": "text", "text": 5}, {"type": "image_url", "image_url": {"url": IMAGE}}]}],
     "messages[0].content[0].text", "invalid_value"),
    ([{"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": 7}}]}],
     "messages[0].content[1].image_url", "invalid_value"),
    ([{"role": "user", "content": [{"type": "audio"}]}], "messages[0].content[0]", "invalid_value"),
    ([{"role": "user", "content": 42}], "messages[0].content", "invalid_value"),
    ([{"role": "user", "content": [{"type": "text", "text": "x" * 101},
                                   {"type": "image_url", "image_url": {"url": IMAGE}}]}],
     "messages[0].content", "invalid_value"),
    ([{"role": "user", "content": [{"type": "text", "text": "a <image> b"},
                                   {"type": "image_url", "image_url": {"url": IMAGE}}]}],
     "messages[0].content", "invalid_value"),
])
def test_bad_messages(messages, param, code):
    err = error_of(body(messages=messages))
    assert (err.status, err.param, err.code) == (400, param, code)


def test_parse_json_body():
    assert parse_json_body(json.dumps({"a": 1}).encode(), 100) == {"a": 1}
    for raw in (b"{not json", b"\xff\xfe", b"[1, 2]", b""):
        with pytest.raises(ApiError) as info:
            parse_json_body(raw, 100)
        assert (info.value.status, info.value.code) == (400, "invalid_json")
    with pytest.raises(ApiError) as info:
        parse_json_body(b"{" + b" " * 100 + b"}", 100)
    assert (info.value.status, info.value.code) == (413, "request_too_large")


def test_error_body_shape_and_pickling():
    import pickle

    assert error_body("m", param="n", code="c") == {"error": {"message": "m", "type": "invalid_request_error",
                                                              "param": "n", "code": "c"}}
    err = pickle.loads(pickle.dumps(ApiError(404, "gone", param="model", code="model_not_found")))
    assert (err.status, err.message, err.param, err.code) == (404, "gone", "model", "model_not_found")
    assert err.body()["error"]["message"] == "gone"


def test_reserved_text_mirrors_prompt_format():
    from rlaifv.models import chat

    assert set(RESERVED_TEXT) == set(chat._RESERVED)


def test_limits_reject_bad_settings():
    with pytest.raises(ValueError, match="default_n"):
        RequestLimits(default_n=9, max_n=8)
    with pytest.raises(ValueError, match="max_tokens"):
        RequestLimits(max_tokens=0)
