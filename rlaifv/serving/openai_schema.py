"""The OpenAI chat.completions wire format, as far as best-of-N self-reward serving needs it.

Pure functions: a request body -> a typed `ChatRequest` (or an `ApiError` naming the field),
candidates -> a `chat.completion` body with ONE choice (the best) and the extension field
`rlaifv`, and the OpenAI-style error body {"error": {message, type, param, code}}.
Every limit is checked here, before any model work, so bad input is always a 4xx.

Request semantics: `n` (or the extension `best_of`) is N, the number of candidates sampled
and scored (default serve.default_n, at most serve.max_n); the reply still holds one choice.
Exactly one user message with exactly one `image_url` part and some text: these models
answer about an image, single turn. Default temperature 0.7 (the paper's sampling setting).
"""
from __future__ import annotations

import hmac
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rlaifv.config.schema import SERVE_SELECTORS
from rlaifv.reward import best_of_n

DEFAULT_TEMPERATURE = 0.7
# Mirrors rlaifv.models.chat._RESERVED (a test keeps them equal): text that would forge the prompt format.
RESERVED_TEXT = ("<image>", "<|image_pad|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>", "<s>", "</s>",
                 "<pad>")
# Parameters these models cannot honour: refused when set to anything truthy.
UNSUPPORTED = ("stream", "tools", "tool_choice", "functions", "function_call", "logit_bias", "logprobs",
               "top_logprobs", "stop", "presence_penalty", "frequency_penalty", "audio", "prediction")


class ApiError(Exception):
    """An HTTP error with an OpenAI-style body."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def __reduce__(self):  # picklable across Ray processes
        return (type(self), (self.status, self.message, self.type, self.param, self.code))

    def body(self) -> dict:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


@dataclass(frozen=True)
class RequestLimits:
    default_n: int = 8
    max_n: int = 32
    max_tokens: int = 256
    max_body_bytes: int = 8 * 1024 * 1024
    max_text_chars: int = 8000

    def __post_init__(self) -> None:
        for name in ("default_n", "max_n", "max_tokens", "max_body_bytes", "max_text_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"RequestLimits.{name} must be >= 1, got {getattr(self, name)}")
        if self.default_n > self.max_n:
            raise ValueError(f"RequestLimits.default_n ({self.default_n}) exceeds max_n ({self.max_n})")


def request_limits_from_serve(serve) -> RequestLimits:
    """RequestLimits of a `ServeSection`."""
    return RequestLimits(default_n=serve.default_n, max_n=serve.max_n, max_tokens=serve.max_tokens,
                         max_body_bytes=serve.max_body_bytes)


@dataclass(frozen=True)
class ChatRequest:
    model: str
    question: str
    image_url: str  # data URL (or remote URL); decoded by rlaifv.serving.images
    image_param: str  # where the image sits, for error messages: messages[0].content[1].image_url
    n: int
    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None  # None: the server draws one


def parse_json_body(raw: bytes, max_body_bytes: int) -> dict:
    """The JSON object of a request body, or ApiError (413 too large, 400 not a JSON object)."""
    if len(raw) > max_body_bytes:
        raise ApiError(413, f"request body is {len(raw)} bytes, above the limit of {max_body_bytes}",
                       code="request_too_large")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise ApiError(400, f"request body must be a JSON object, got {type(body).__name__}", code="invalid_json")
    return body


def parse_chat_request(body: Mapping[str, Any], limits: RequestLimits, model_names: Sequence[str]) -> ChatRequest:
    """Validate a chat.completions body; the first problem found is raised as ApiError (4xx)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "`model` is required and must be a string (see GET /v1/models)")
    if model not in model_names:
        raise ApiError(404, f"model {model!r} does not exist; available: {', '.join(model_names)}", param="model",
                       code="model_not_found")
    for key in UNSUPPORTED:
        if body.get(key):
            raise _bad(key, f"`{key}` is not supported by this server", "unsupported_parameter")
    fmt = body.get("response_format")
    if fmt is not None and fmt != {"type": "text"}:
        raise _bad("response_format", "only response_format {\"type\": \"text\"} is supported", "unsupported_parameter")
    question, image_url, image_param = parse_messages(body.get("messages"), limits.max_text_chars)
    n = _sample_count(body, limits)
    temperature = _number(body, "temperature", DEFAULT_TEMPERATURE, 0.0, 2.0)
    if (top_p := _number(body, "top_p", 1.0, 0.0, 1.0)) == 0.0:
        raise _bad("top_p", "`top_p` must be in (0, 1]")
    if temperature == 0.0 and n > 1:
        raise _bad("temperature", f"temperature 0 (greedy) makes all {n} candidates identical; use n=1 or "
                                  "temperature > 0")
    max_tokens = _max_tokens(body, limits.max_tokens)
    seed = _integer(body, "seed", None, -(2**63), 2**63 - 1)
    return ChatRequest(model, question, image_url, image_param, n, temperature, top_p, max_tokens, seed)


def parse_messages(messages: Any, max_text_chars: int) -> tuple[str, str, str]:
    """(question, image url, image param path) of a single-turn message list with one image."""
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "`messages` must be a non-empty list of messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(f"messages[{i}]", f"messages[{i}] must be an object, got {type(message).__name__}")
        role = message.get("role")
        if role != "user":
            raise _bad(f"messages[{i}].role", f"messages[{i}].role is {role!r}: this server takes exactly one "
                                              "message with role 'user' (single turn, no system prompt)")
    if len(messages) != 1:
        raise _bad("messages", f"got {len(messages)} messages; this server takes exactly one user message")
    content = messages[0].get("content")
    texts, images = [], []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for j, part in enumerate(content):
            where = f"messages[0].content[{j}]"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                if not isinstance(part.get("text"), str):
                    raise _bad(f"{where}.text", f"{where}.text must be a string")
                texts.append(part["text"])
            elif kind == "image_url":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if not isinstance(url, str) or not url:
                    raise _bad(f"{where}.image_url", f"{where}.image_url must be {{\"url\": \"data:image/...\"}}")
                images.append((url, f"{where}.image_url"))
            else:
                raise _bad(where, f"{where} must be an object with type 'text' or 'image_url'")
    else:
        raise _bad("messages[0].content", "messages[0].content must be a string or a list of content parts")
    if len(images) != 1:
        raise _bad("messages[0].content", f"exactly one image is required (an image_url part holding a base64 "
                                          f"data URL); got {len(images)}", "image_required")
    question = " ".join(t.strip() for t in texts if t.strip())
    if not question:
        raise _bad("messages[0].content", "a text part with the question is required", "text_required")
    if len(question) > max_text_chars:
        raise _bad("messages[0].content", f"text is {len(question)} characters, above the limit of {max_text_chars}")
    bad = [t for t in RESERVED_TEXT if t in question]
    if bad:
        raise _bad("messages[0].content", f"text contains reserved special token(s) {bad}")
    return question, images[0][0], images[0][1]


def _sample_count(body: Mapping[str, Any], limits: RequestLimits) -> int:
    n = _integer(body, "n", None, 1, None)
    best_of = _integer(body, "best_of", None, 1, None)
    if n is not None and best_of is not None and n != best_of:
        raise _bad("best_of", f"`n` ({n}) and `best_of` ({best_of}) disagree; both set N, give one")
    count = n if n is not None else best_of if best_of is not None else limits.default_n
    if count > limits.max_n:
        raise _bad("best_of" if n is None else "n", f"N = {count} candidates is above this server's limit of "
                                                    f"{limits.max_n}", "n_too_large")
    return count


def _max_tokens(body: Mapping[str, Any], cap: int) -> int:
    value = _integer(body, "max_tokens", None, 1, None)
    other = _integer(body, "max_completion_tokens", None, 1, None)
    if value is not None and other is not None and value != other:
        raise _bad("max_completion_tokens", "`max_tokens` and `max_completion_tokens` disagree; give one")
    value = value if value is not None else other if other is not None else cap
    if value > cap:
        raise _bad("max_tokens", f"max_tokens = {value} is above this server's limit of {cap}", "max_tokens_too_large")
    return value


def _integer(body: Mapping[str, Any], key: str, default: int | None, low: int | None, high: int | None) -> int | None:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(key, f"`{key}` must be an integer, got {type(value).__name__} {value!r}", "invalid_type")
    if (low is not None and value < low) or (high is not None and value > high):
        raise _bad(key, f"`{key}` = {value} is out of range [{low}, {'inf' if high is None else high}]")
    return value


def _number(body: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(key, f"`{key}` must be a number, got {type(value).__name__} {value!r}", "invalid_type")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not (math.isfinite(value) and low <= value <= high):
        raise _bad(key, f"`{key}` = {value} is out of range [{low}, {high}]")
    return value


def _bad(param: str, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def resolve_api_key(config_key: str | None, environ: Mapping[str, str]) -> str | None:
    """The key every route but /healthz requires: env RLAIFV_API_KEY first, then serve.api_key."""
    key = environ.get("RLAIFV_API_KEY") or config_key
    return key or None


def check_authorization(header: str | None, api_key: str | None) -> None:
    """Raise ApiError(401) unless `Authorization: Bearer <api_key>` (no key configured: open)."""
    if api_key is None:
        return
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing API key: send `Authorization: Bearer <key>`", code="invalid_api_key")
    if not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        raise ApiError(401, "incorrect API key provided", code="invalid_api_key")


@dataclass(frozen=True)
class Candidate:
    """One sampled answer with its self-reward (rlaifv.reward.length_normalized_reward)."""

    text: str
    reward: float
    policy_logp: float  # summed over the `tokens` scored tokens
    reference_logp: float
    tokens: int  # T, the tokens the reward is normalised by (answer + eos)
    completion_tokens: int  # tokens generated
    finish_reason: str  # "stop" (eos) or "length" (max_tokens)
    # reward -inf (and NaN log-probs): the candidate could not be scored; it is never chosen unless all are


def selection_score(candidate: Candidate, selector: str) -> float:
    """Higher is better. self_reward: the candidate's reward; policy_loglik: the aligned model's
    mean log-prob per scored token. -inf when the candidate could not be scored."""
    if selector == "self_reward":
        return candidate.reward
    if selector == "policy_loglik":
        if candidate.tokens <= 0 or not math.isfinite(candidate.policy_logp):
            return -math.inf
        return candidate.policy_logp / candidate.tokens
    raise ValueError(f"unknown selector {selector!r}; choose from {SERVE_SELECTORS}")


def build_chat_response(request: ChatRequest, candidates: Sequence[Candidate], prompt_tokens: int,
                        response_id: str, created: int, seed: int, selector: str = "self_reward") -> dict:
    """chat.completion body: the candidate the selector scores highest as the one choice (first on ties)."""
    if len(candidates) != request.n:
        raise ValueError(f"build_chat_response: {len(candidates)} candidates for n={request.n}")
    chosen = best_of_n([selection_score(c, selector) for c in candidates])
    best = candidates[chosen]
    completion_tokens = sum(c.completion_tokens for c in candidates)
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": best.text},
                     "finish_reason": best.finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
        "system_fingerprint": None,
        "rlaifv": {
            "candidates": [{"text": c.text, "reward": _finite(c.reward), "policy_logp": _finite(c.policy_logp),
                            "reference_logp": _finite(c.reference_logp), "tokens": c.tokens} for c in candidates],
            "chosen_index": chosen,
            "selector": selector,
            "n": len(candidates),
            "seed": seed,
        },
    }


def _finite(x: float) -> float | None:
    """JSON has no inf/NaN: a candidate that could not be scored reports null."""
    return float(x) if math.isfinite(x) else None


def models_body(model_names: Sequence[str], created: int) -> dict:
    return {"object": "list", "data": [{"id": m, "object": "model", "created": created, "owned_by": "rlaifv"}
                                       for m in model_names]}
