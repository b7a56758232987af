"""pipelines/serve.py: model defaults and deployment options (fast), and the app end to end on
a real local Ray cluster called with the official `openai` client (slow, ~1 min)."""
import base64
import dataclasses
import io
import math
import socket

import pytest
from PIL import Image

from pipelines.serve import check_serve_section, default_models, deployment_options, engine_spec
from rlaifv.config.schema import Config, ReferenceSection, RunSection, ServeSection

pytestmark = pytest.mark.cpu


def fake_model(path):
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


def test_default_models(tmp_path):
    run = tmp_path / "run"
    base = fake_model(run / "base" / "policy")
    cfg = Config(run=RunSection(output=str(run)))  # policy.model = builtin:shapes-policy
    assert default_models(cfg) == (str(base), str(base))
    aligned, ref = fake_model(tmp_path / "dpo"), fake_model(tmp_path / "ref")
    assert default_models(cfg, str(aligned)) == (str(aligned), str(base))
    assert default_models(cfg, str(aligned), str(ref)) == (str(aligned), str(ref))
    cfg = dataclasses.replace(cfg, reference=ReferenceSection(model="org/hub-ref"))
    assert default_models(cfg, str(aligned)) == (str(aligned), "org/hub-ref")
    empty = Config(run=RunSection(output=str(tmp_path / "none")))
    with pytest.raises(FileNotFoundError, match="rlaifv run"):
        default_models(empty)
    with pytest.raises(FileNotFoundError, match="--reference"):
        default_models(empty, str(aligned))


def test_deployment_options_fractional_cpus_and_autoscaling():
    cfg = Config(serve=ServeSection(min_replicas=1, max_replicas=3, target_ongoing_requests=2.0))
    opts = deployment_options(cfg)
    assert set(opts) == {"ingress", "policy", "scorer"}
    for o in opts.values():
        assert o["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 2.0}
        assert 0 < o["ray_actor_options"]["num_cpus"] < 1
        assert o["ray_actor_options"]["runtime_env"]["env_vars"]["HF_HUB_OFFLINE"]
    assert opts["policy"]["ray_actor_options"]["num_cpus"] == cfg.policy.num_cpus
    assert sum(o["ray_actor_options"]["num_cpus"] for o in opts.values()) <= 1.25  # fits 2 cores
    assert engine_spec(cfg)["backend"] == cfg.policy.backend


@pytest.mark.parametrize("serve, match", [
    (ServeSection(min_replicas=2, max_replicas=1), "min_replicas"),
    (ServeSection(max_replicas=0, min_replicas=0), "max_replicas"),
    (ServeSection(default_n=0), "serve.default_n"),
    (ServeSection(beta=0.0), "serve.beta"),
])
def test_check_serve_section(serve, match):
    with pytest.raises(ValueError, match=match):
        check_serve_section(Config(serve=serve))


def test_cli_takes_reference():
    from pipelines.cli import build_parser

    args = build_parser().parse_args(["serve", "--config", "c.yaml", "--model", "m", "--reference", "r", "a.b=1"])
    assert (args.config, args.model, args.reference, args.overrides) == ("c.yaml", "m", "r", ["a.b=1"])


# ---- end to end ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _image_url() -> str:
    image = Image.new("RGB", (48, 48), (255, 255, 255))
    image.paste((220, 30, 30), (4, 4, 20, 20))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def reference_llava(tmp_path_factory):
    """A second tiny LLaVA (other seed), so rewards are non-zero and differ between candidates."""
    from rlaifv.models.tiny import build_tiny_llava

    return str(build_tiny_llava(tmp_path_factory.mktemp("ref") / "model", seed=7))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_app_end_to_end_with_openai_client(ray_cluster, shapes_models, reference_llava, monkeypatch):
    import openai
    from ray import serve

    from pipelines.serve import build_app

    policy = shapes_models["shapes-policy"]  # writes captions that end: the sampler's log-probs get reused
    monkeypatch.delenv("RLAIFV_API_KEY", raising=False)
    cfg = Config()
    cfg = dataclasses.replace(
        cfg, ray=dataclasses.replace(cfg.ray, address=None, num_cpus=2),
        policy=dataclasses.replace(cfg.policy, model=policy, backend="hf", batch_size=8),
        serve=ServeSection(api_key="test-key", default_n=2, max_n=4, max_tokens=32, beta=0.1))
    port = _free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port},
                    logging_config={"enable_access_log": False, "log_level": "WARNING"})
        serve.run(build_app(cfg, policy, reference_llava), name="rlaifv", route_prefix="/")
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="test-key", max_retries=0, timeout=60)
        messages = [{"role": "user", "content": [{"type": "text", "text": "Describe the image."},
                                                 {"type": "image_url", "image_url": {"url": _image_url()}}]}]
        reply = client.chat.completions.create(model="rlaifv", messages=messages, n=3, max_tokens=32, seed=5)
        assert reply.object == "chat.completion" and len(reply.choices) == 1
        ext = reply.model_extra["rlaifv"]
        assert ext["n"] == 3 and len(ext["candidates"]) == 3 and ext["seed"] == 5
        rewards = [c["reward"] for c in ext["candidates"]]
        assert all(isinstance(r, float) and math.isfinite(r) for r in rewards)
        assert rewards[ext["chosen_index"]] == max(rewards)
        assert ext["selector"] == "self_reward"  # the paper's reward unless serve.selector says otherwise
        for c in ext["candidates"]:  # r = beta/T * (policy - reference), as served
            assert c["reward"] == pytest.approx(0.1 / c["tokens"] * (c["policy_logp"] - c["reference_logp"]))
        # pi_theta comes from the sampler's own log-probs (no second forward): the same numbers
        # as scoring the texts with both models offline
        from rlaifv.engine.base import Prompt
        from rlaifv.engine.hf import HFEngine

        image = Image.open(io.BytesIO(base64.b64decode(_image_url().split(",", 1)[1]))).convert("RGB")
        texts = [c["text"] for c in ext["candidates"]]
        prompts = [Prompt("Describe the image.", image)] * len(texts)
        # a finished sample is scored from the sampler's own log-probs (it re-tokenises exactly)
        assert reply.choices[0].finish_reason == "stop"
        for engine, key in ((HFEngine(policy), "policy_logp"), (HFEngine(reference_llava), "reference_logp")):
            offline = [math.fsum(lp) for lp in engine.score(prompts, texts)]
            assert [c[key] for c in ext["candidates"]] == pytest.approx(offline, abs=1e-4)
        assert reply.choices[0].message.content == ext["candidates"][ext["chosen_index"]]["text"]
        assert reply.usage.completion_tokens >= 3 and reply.usage.prompt_tokens > 16  # 16 image tokens + text
        again = client.chat.completions.create(model="rlaifv", messages=messages, n=3, max_tokens=32, seed=5)
        assert [c["text"] for c in again.model_extra["rlaifv"]["candidates"]] == [c["text"] for c in ext["candidates"]]

        assert [m.id for m in client.models.list().data] == ["rlaifv"]
        wrong = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="nope", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            wrong.chat.completions.create(model="rlaifv", messages=messages)
        assert info.value.status_code == 401 and info.value.body["code"] == "invalid_api_key"
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="rlaifv", messages=messages, n=5)
        assert info.value.body["code"] == "n_too_large" and info.value.body["param"] == "n"
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="rlaifv", messages=[{"role": "user", "content": "hi"}])
        assert info.value.body["code"] == "image_required"

        import httpx

        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}  # open without a key
        bad = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", content=b"{oops",
                         headers={"Authorization": "Bearer test-key"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    finally:
        serve.shutdown()  # the session's Ray cluster stays up for the other pipeline tests
