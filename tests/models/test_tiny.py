import json

import pytest
import torch
from safetensors import safe_open
from transformers import LlavaForConditionalGeneration

from rlaifv.models.chat import encode_example, prompt_inputs
from rlaifv.models.checkpoint import fix_llava_keys_for_vllm, load_model, save_model
from rlaifv.models.tiny import TinyVLMSpec, build_tiny_llava

pytestmark = pytest.mark.cpu

Q = "Describe the image in detail."


def _batch(example):
    return {k: (v.unsqueeze(0) if k in ("input_ids", "attention_mask", "labels", "mm_token_type_ids") else v)
            for k, v in example.items()}


def test_llava_config_matches_the_spec(tiny_llava):
    config = json.loads((tiny_llava / "config.json").read_text())
    assert config["architectures"] == ["LlavaForConditionalGeneration"]
    assert config["image_seq_length"] == (48 // 8) ** 2 == TinyVLMSpec().image_tokens
    assert config["text_config"]["vocab_size"] == 512 and config["text_config"]["hidden_size"] == 128
    assert config["vision_config"]["image_size"] == 48 and config["vision_config"]["patch_size"] == 8
    assert config["dtype"] == "float32"


def test_llava_file_has_vllm_key_names_and_loads_without_missing_keys(tiny_llava):
    with safe_open(tiny_llava / "model.safetensors", "pt") as f:
        keys = list(f.keys())
        class_embedding = f.get_tensor("vision_tower.vision_model.embeddings.class_embedding")
    vision = [k for k in keys if k.startswith("vision_tower.")]
    assert vision and all(k.startswith("vision_tower.vision_model.") for k in vision)
    model, info = LlavaForConditionalGeneration.from_pretrained(tiny_llava, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    # the renamed tensor really landed in the model (not a fresh random init)
    assert torch.equal(model.model.vision_tower.embeddings.class_embedding, class_embedding)
    assert fix_llava_keys_for_vllm(tiny_llava) == 0  # idempotent


def test_build_is_seeded(tmp_path):
    small = TinyVLMSpec(text_layers=1, vision_layers=1)
    a = build_tiny_llava(tmp_path / "a", small, seed=3)
    b = build_tiny_llava(tmp_path / "b", small, seed=3)
    c = build_tiny_llava(tmp_path / "c", small, seed=4)
    key = "language_model.model.embed_tokens.weight"
    with safe_open(a / "model.safetensors", "pt") as fa, safe_open(b / "model.safetensors", "pt") as fb, \
            safe_open(c / "model.safetensors", "pt") as fc:
        assert torch.equal(fa.get_tensor(key), fb.get_tensor(key))
        assert not torch.equal(fa.get_tensor(key), fc.get_tensor(key))


def test_spec_rejects_bad_sizes():
    with pytest.raises(ValueError, match="patch_size"):
        TinyVLMSpec(image_size=50)
    with pytest.raises(ValueError, match="text_hidden"):
        TinyVLMSpec(text_hidden=130)


@pytest.mark.parametrize("fixture", ["tiny_llava", "tiny_qwen2vl"])
def test_generates_and_trains_one_step(fixture, request, make_image):
    model, processor = load_model(request.getfixturevalue(fixture))
    image = make_image()
    inputs = prompt_inputs(processor, Q, image)
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape == (1, inputs["input_ids"].shape[1] + 5) or out[0, -1] == processor.tokenizer.eos_token_id

    batch = _batch(encode_example(processor, Q, "There is a red circle.", image))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss0 = model(**batch).loss
    loss0.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "post_layernorm" not in n)
    optimizer.step()
    optimizer.zero_grad()
    loss1 = model(**batch).loss
    assert torch.isfinite(loss0) and loss1 < loss0 - 0.1  # one step on the same example helps
    assert abs(loss0.item() - torch.log(torch.tensor(512.0)).item()) < 1.0  # random init ~ uniform


def test_save_model_after_training_keeps_weights_and_vllm_names(tiny_llava, tmp_path):
    model, processor = load_model(tiny_llava)
    with torch.no_grad():
        model.model.vision_tower.embeddings.class_embedding.add_(1.0)
    out = save_model(model, processor, tmp_path / "trained")
    with safe_open(out / "model.safetensors", "pt") as f:
        assert all(not k.startswith("vision_tower.embeddings") for k in f.keys())
    reloaded, _ = load_model(out)
    assert torch.equal(reloaded.model.vision_tower.embeddings.class_embedding,
                       model.model.vision_tower.embeddings.class_embedding)


def test_qwen2vl_is_small_and_fix_is_a_noop(tiny_qwen2vl):
    config = json.loads((tiny_qwen2vl / "config.json").read_text())
    assert config["model_type"] == "qwen2_vl"
    assert fix_llava_keys_for_vllm(tiny_qwen2vl) == 0
    model, _ = load_model(tiny_qwen2vl)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_load_model_names_the_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(tmp_path)
