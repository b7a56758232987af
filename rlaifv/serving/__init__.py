"""Best-of-N self-reward serving (METHOD.md step 6), the Ray-free parts.

`openai_schema`: the OpenAI chat.completions request/response/error format and the API key
check; `images`: image decoding under size and pixel limits. The Ray Serve deployments live
in `actors/serve_deployments.py`, the HTTP app in `pipelines/serve.py`.
"""
from rlaifv.serving.images import ImageError, ImageLimits, image_limits_from_serve, load_image_bytes
from rlaifv.serving.openai_schema import (
    ApiError,
    Candidate,
    ChatRequest,
    RequestLimits,
    build_chat_response,
    check_authorization,
    error_body,
    parse_chat_request,
    parse_json_body,
    request_limits_from_serve,
    resolve_api_key,
)

__all__ = [
    "ApiError", "Candidate", "ChatRequest", "ImageError", "ImageLimits", "RequestLimits", "build_chat_response",
    "check_authorization", "error_body", "image_limits_from_serve", "load_image_bytes", "parse_chat_request",
    "parse_json_body", "request_limits_from_serve", "resolve_api_key",
]
