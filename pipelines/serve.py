"""Best-of-N self-reward on Ray Serve: an OpenAI-compatible `POST /v1/chat/completions`.

The FastAPI ingress validates the request (rlaifv.serving), asks `PolicyDeployment` for N
candidates, `RewardScorerDeployment` for their rewards r(y) = beta/T * sum log(pi/pi_ref),
and answers with the best one (+ every candidate under the extension field `rlaifv`).
Routes: POST /v1/chat/completions, GET /v1/models, GET /healthz (the only one open without
the API key, which comes from env RLAIFV_API_KEY or serve.api_key).

Run it:
    rlaifv serve --config configs/shapes.yaml [--model DIR] [--reference DIR] [key.sub=value ...]
binds cfg.serve.host:port and blocks until Ctrl-C. Models when flags are omitted:
- aligned model: cfg.policy.model (a local directory, a hub id, or `builtin:...`, which means
  `<run.output>/base/...` of a finished `rlaifv run`); pass --model to serve a DPO round's output;
- reference: cfg.reference.model, else `<run.output>/base/policy` (RLAIF-V's reference is the
  starting policy). Aligned == reference makes every reward 0 (a warning is printed).

Other ways to deploy (same app, e.g. onto a running cluster):
    serve run pipelines.serve:app_builder config=configs/shapes.yaml model=DIR reference=DIR
    RLAIFV_CONFIG=configs/shapes.yaml RLAIFV_MODEL=DIR RLAIFV_REFERENCE=DIR \\
        serve build pipelines.serve:app -o serve.yaml   # then `serve run serve.yaml`
(`app` reads those env variables when imported, so set them in the YAML's runtime_env too.)
Resources: every replica asks for fractional CPUs (ingress 0.25, engines policy.num_cpus) so
the app fits a 2-core machine; autoscaling per deployment comes from cfg.serve.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
import uuid
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve
from starlette.exceptions import HTTPException as StarletteHTTPException

from actors.serve_deployments import PolicyDeployment, RewardScorerDeployment
from pipelines.cluster import worker_env
from rlaifv.config import Config, load_config
from rlaifv.serving.images import ImageError, ImageLimits, image_limits_from_serve, load_image_bytes
from rlaifv.serving.openai_schema import (
    ApiError, Candidate, RequestLimits, build_chat_response, check_authorization, error_body, models_body,
    parse_chat_request, parse_json_body, request_limits_from_serve, resolve_api_key,
)

SERVED_NAME = "rlaifv"
INGRESS_CPUS = 0.25
log = logging.getLogger("ray.serve")
api = FastAPI(title="rlaifv best-of-N", docs_url=None, redoc_url=None, openapi_url=None)


@api.exception_handler(ApiError)
async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(error_body(str(exc.detail), code=str(exc.status_code)), status_code=exc.status_code)


@api.exception_handler(Exception)
async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("rlaifv serve: internal error")
    return JSONResponse(error_body("internal server error", "server_error"), status_code=500)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed max_bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ApiError(413, f"request body is {length} bytes, above the limit of {max_bytes}", code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"request body is above the limit of {max_bytes} bytes", code="request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def merge_candidates(sampled: list[dict], scores: list[dict]) -> list[Candidate]:
    """Candidates from the policy's samples and the scorer's rewards (same order)."""
    if len(sampled) != len(scores):
        raise ValueError(f"merge_candidates: {len(sampled)} samples but {len(scores)} scores")
    return [Candidate(s["text"], r["reward"], r["policy_logp"], r["reference_logp"], r["tokens"],
                      s["completion_tokens"], s["finish_reason"]) for s, r in zip(sampled, scores)]


@serve.deployment(ray_actor_options={"num_cpus": INGRESS_CPUS}, max_ongoing_requests=64)
@serve.ingress(api)
class BestOfNIngress:
    def __init__(self, policy, scorer, settings: dict):
        self.policy, self.scorer = policy, scorer
        self.limits = RequestLimits(**settings["limits"])
        self.image_limits = ImageLimits(**settings["images"])
        self.api_key = settings.get("api_key") or resolve_api_key(None, os.environ)
        self.model_names = [settings.get("served_name", SERVED_NAME)]
        self.selector = settings.get("selector", "self_reward")
        self.created = int(time.time())

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @api.get("/v1/models")
    async def models(self, request: Request) -> dict:
        check_authorization(request.headers.get("authorization"), self.api_key)
        return models_body(self.model_names, self.created)

    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> dict:
        check_authorization(request.headers.get("authorization"), self.api_key)
        body = parse_json_body(await read_body(request, self.limits.max_body_bytes), self.limits.max_body_bytes)
        chat = parse_chat_request(body, self.limits, self.model_names)
        try:
            image = await asyncio.to_thread(load_image_bytes, chat.image_url, self.image_limits)
        except ImageError as exc:
            raise ApiError(400, str(exc), param=chat.image_param, code=exc.code) from exc
        seed = chat.seed if chat.seed is not None else secrets.randbits(31)
        spec = {"n": chat.n, "temperature": chat.temperature, "top_p": chat.top_p, "max_tokens": chat.max_tokens}
        sampled = await self.policy.sample.remote(chat.question, image, spec, seed)
        if "error" in sampled:
            e = sampled["error"]
            raise ApiError(e["status"], e["message"], param=e.get("param"), code=e.get("code"))
        texts = [c["text"] for c in sampled["candidates"]]
        own = [{"token_ids": c.get("token_ids"), "logprobs": c.get("logprobs")} for c in sampled["candidates"]]
        scores = await self.scorer.score.remote(chat.question, image, texts, own)
        candidates = merge_candidates(sampled["candidates"], scores)
        return build_chat_response(chat, candidates, sampled["prompt_tokens"], f"chatcmpl-{uuid.uuid4().hex}",
                                   int(time.time()), seed, self.selector)


# ---- configuration -> application ---------------------------------------------------------

def _local_or_hub(ref: str) -> str:
    """Absolute path for a local directory (Ray workers run elsewhere), else the hub id as is."""
    path = Path(ref).expanduser()
    return str(path.resolve()) if path.exists() else ref


def default_models(cfg: Config, model: str | None = None, reference: str | None = None) -> tuple[str, str]:
    """(aligned, reference) model paths: the flags, else the run directory's (cfg.run.output).

    Aligned: `final/model` of the run if it exists, else policy.model. Reference: reference.model,
    else the policy the last round started from (the model the aligned one was trained against:
    the previous round's model, or base/policy after one round).
    """
    from pipelines.base_models import resolve_model

    run_dir = Path(cfg.run.output)
    final = run_dir / "final" / "model"
    aligned = model or (str(final) if (final / "config.json").is_file() else resolve_model(cfg, cfg.policy.model, run_dir))
    if reference is None:
        if cfg.reference.model:
            reference = resolve_model(cfg, cfg.reference.model, run_dir)
        else:
            rounds = sorted(run_dir.glob("round_*/model/config.json"), key=lambda p: int(p.parts[-3].split("_")[1]))
            starts = [run_dir / "base" / "policy"] + [p.parent for p in rounds]
            reference = str(starts[-2] if len(starts) >= 2 else starts[0])
            if not (Path(reference) / "config.json").is_file():
                raise FileNotFoundError(f"no reference model: {reference} does not exist; pass --reference DIR or "
                                        "set reference.model (RLAIF-V's reference is the round's starting policy)")
    return _local_or_hub(aligned), _local_or_hub(reference)


def check_serve_section(cfg: Config) -> None:
    """Serve settings that Ray would reject late (or obscurely), named by key."""
    s, errs = cfg.serve, []
    if s.max_replicas < 1 or s.min_replicas < 0 or s.min_replicas > s.max_replicas:
        errs.append(f"serve.min_replicas/max_replicas: need 0 <= min <= max and max >= 1, got "
                    f"{s.min_replicas}/{s.max_replicas}")
    for key in ("default_n", "max_tokens", "max_body_bytes", "max_image_pixels"):
        if getattr(s, key) < 1:
            errs.append(f"serve.{key}: must be >= 1, got {getattr(s, key)}")
    if not s.beta > 0 or not s.target_ongoing_requests > 0:
        errs.append(f"serve.beta and serve.target_ongoing_requests: must be > 0, got {s.beta}, "
                    f"{s.target_ongoing_requests}")
    if errs:
        raise ValueError("invalid serve settings:\n" + "\n".join(f"  - {e}" for e in errs))


def engine_spec(cfg: Config) -> dict:
    """How every engine of the app is built (the policy section's backend and sizes)."""
    p = cfg.policy
    return {"backend": p.backend, "dtype": p.dtype, "max_model_len": p.max_model_len, "batch_size": p.batch_size,
            "tensor_parallel_size": p.tensor_parallel_size}


def deployment_options(cfg: Config) -> dict[str, dict]:
    """`.options(...)` per deployment: fractional CPUs, worker env, autoscaling from cfg.serve."""
    s, p = cfg.serve, cfg.policy
    env = {"env_vars": worker_env(bool(p.num_gpus))}
    autoscaling = {"min_replicas": s.min_replicas, "max_replicas": s.max_replicas,
                   "target_ongoing_requests": s.target_ongoing_requests}
    engine_actor = {"num_cpus": p.num_cpus, "num_gpus": p.num_gpus, "runtime_env": env}
    return {
        "ingress": {"ray_actor_options": {"num_cpus": INGRESS_CPUS, "runtime_env": env},
                    "autoscaling_config": dict(autoscaling)},
        "policy": {"ray_actor_options": dict(engine_actor), "autoscaling_config": dict(autoscaling)},
        "scorer": {"ray_actor_options": dict(engine_actor), "autoscaling_config": dict(autoscaling)},
    }


def build_app(cfg: Config, model: str, reference: str, served_name: str = SERVED_NAME, api_key: str | None = None):
    """The Serve application: ingress -> PolicyDeployment + RewardScorerDeployment."""
    check_serve_section(cfg)
    if os.path.abspath(model) == os.path.abspath(reference):
        print(f"rlaifv serve: warning: aligned model and reference are the same ({model}); every reward is 0 and "
              "best-of-N returns the first candidate. Pass --model with a DPO-trained model.")
    opts, engine = deployment_options(cfg), engine_spec(cfg)
    scorer_engine = dict(engine)
    if cfg.policy.backend == "vllm" and cfg.policy.num_gpus:
        scorer_engine["extra"] = {"gpu_memory_utilization": 0.4}  # two vLLM engines share the replica's GPU
    settings = {"limits": vars(request_limits_from_serve(cfg.serve)),
                "images": vars(image_limits_from_serve(cfg.serve)),
                "api_key": api_key or resolve_api_key(cfg.serve.api_key, os.environ), "served_name": served_name,
                "selector": cfg.serve.selector}
    policy = PolicyDeployment.options(**opts["policy"]).bind(model, engine)
    scorer = RewardScorerDeployment.options(**opts["scorer"]).bind(model, reference, scorer_engine, cfg.serve.beta)
    return BestOfNIngress.options(**opts["ingress"]).bind(policy, scorer, settings)


def app_builder(args: dict):
    """For `serve run pipelines.serve:app_builder config=F [model=DIR] [reference=DIR] [overrides='a.b=1 c.d=2']`."""
    cfg = load_config(args.get("config", "configs/shapes.yaml"), str(args.get("overrides", "")).split())
    return build_app(cfg, *default_models(cfg, args.get("model"), args.get("reference")))


def __getattr__(name: str):
    """`pipelines.serve:app` for `serve build`: built from env RLAIFV_CONFIG/RLAIFV_MODEL/RLAIFV_REFERENCE."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    env = os.environ
    return app_builder({"config": env.get("RLAIFV_CONFIG", "configs/shapes.yaml"), "model": env.get("RLAIFV_MODEL"),
                        "reference": env.get("RLAIFV_REFERENCE"), "overrides": env.get("RLAIFV_OVERRIDES", "")})


def main(args) -> int:
    """`rlaifv serve`: run the app on a local (or the configured) Ray cluster until Ctrl-C."""
    import ray

    from pipelines.cluster import init_ray

    cfg = load_config(args.config, args.overrides)
    model, reference = default_models(cfg, args.model, getattr(args, "reference", None))
    app = build_app(cfg, model, reference)
    if cfg.serve.host not in ("127.0.0.1", "localhost", "::1") and not resolve_api_key(cfg.serve.api_key, os.environ):
        print(f"rlaifv serve: warning: listening on {cfg.serve.host} without an API key (set RLAIFV_API_KEY)")
    init_ray(cfg)
    try:
        serve.start(http_options={"host": cfg.serve.host, "port": cfg.serve.port})
        serve.run(app, name="rlaifv", route_prefix="/")
        print(f"rlaifv serve: http://{cfg.serve.host}:{cfg.serve.port}/v1 (model {SERVED_NAME!r}: {model}, "
              f"reference {reference}); Ctrl-C stops")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0
