import pytest
import torch

from rlaifv.models.checkpoint import load_model
from rlaifv.models.chat import prompt_inputs
from rlaifv.models.grow import add_decoder_layers, grow_checkpoint


def _logits(model, processor, make_image):
    inputs = prompt_inputs(processor, "Is there a red circle in the image?", make_image(shape="circle"))
    with torch.no_grad():
        return model(**inputs).logits


def test_grown_model_starts_as_the_original_and_trains(tiny_llava, tmp_path, make_image):
    model, processor = load_model(tiny_llava)
    before = _logits(model, processor, make_image)
    grown_dir = grow_checkpoint(tiny_llava, tmp_path / "grown", extra=2)
    grown, _ = load_model(grown_dir)
    assert len(grown.model.language_model.layers) == len(model.model.language_model.layers) + 2
    assert grown.config.text_config.num_hidden_layers == len(grown.model.language_model.layers)
    torch.testing.assert_close(_logits(grown, processor, make_image), before, atol=1e-5, rtol=0)
    # the new layers get gradients (a zero output projection still learns)
    grown.train()
    _logits_grad = grown(**prompt_inputs(processor, "Describe the image.", make_image(color=(40, 40, 220)))).logits
    _logits_grad.sum().backward()
    assert grown.model.language_model.layers[-1].self_attn.o_proj.weight.grad.abs().sum() > 0


def test_add_decoder_layers_rejects_negative(tiny_llava):
    model, _ = load_model(tiny_llava)
    with pytest.raises(ValueError, match="extra must be >= 0"):
        add_decoder_layers(model, -1)
