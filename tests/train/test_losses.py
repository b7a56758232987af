"""DPO / SFT / sequence log-prob maths; the DPO loss is checked against TRL's own code."""
import math
import types
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F

from rlaifv.train.losses import sequence_logps, sft_loss, sigmoid_dpo_loss, token_logps

pytestmark = pytest.mark.cpu
torch.set_num_threads(1)


def test_sigmoid_dpo_loss_hand_value():
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    loss, chosen_r, rejected_r = sigmoid_dpo_loss(t(-1.0), t(-2.0), t(-1.0), t(-1.0), beta=0.5)
    # chosen log-ratio 0, rejected -1: -log sigmoid(0.5 * 1) = log(1 + e^-0.5)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-0.5)), abs=1e-12)
    assert (chosen_r.item(), rejected_r.item()) == (0.0, -0.5)


def test_sigmoid_dpo_loss_gradients_flow_to_policy_only_rewards_detached():
    pc = torch.tensor([-3.0, -4.0], requires_grad=True)
    pr = torch.tensor([-3.5, -2.0], requires_grad=True)
    ref = torch.tensor([-3.0, -3.0])
    loss, chosen_r, rejected_r = sigmoid_dpo_loss(pc, pr, ref, ref, beta=0.1)
    loss.sum().backward()
    assert (pc.grad < 0).all() and (pr.grad > 0).all()  # raise chosen, lower rejected
    assert not chosen_r.requires_grad and not rejected_r.requires_grad


def test_sigmoid_dpo_loss_bad_input():
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="ref_rejected_logps"):
        sigmoid_dpo_loss(x, x, x, torch.zeros(3), beta=0.1)
    with pytest.raises(ValueError, match="beta"):
        sigmoid_dpo_loss(x, x, x, x, beta=0.0)


def _trl_sigmoid_loss(pc, pr, rc, rr, beta, output_dir):
    """TRL 1.16 DPOTrainer._compute_loss (loss_type 'sigmoid', precomputed reference), run on
    given sequence log-probs: a bare trainer object, a stand-in model returning per-token
    log-probs, and an identity accelerator. Returns (loss, chosen reward, rejected reward)."""
    from trl import DPOConfig, DPOTrainer

    cfg = DPOConfig(output_dir=str(output_dir), beta=beta, loss_type=["sigmoid"], report_to="none",
                    use_cpu=True, bf16=False)
    n_tokens = 3  # spread each sequence's log-prob evenly over 3 completion tokens
    per_token = torch.cat([pc, pr]).unsqueeze(1).repeat(1, n_tokens) / n_tokens
    rows = per_token.shape[0]

    class Model:
        training = True

        def __call__(self, **kwargs):
            zeros = torch.zeros_like(per_token)
            return types.SimpleNamespace(log_probs=per_token, entropy=zeros, mean_logits=zeros,
                                         is_top1=zeros.bool())

    class Accelerator:
        device = torch.device("cpu")
        gather_for_metrics = gather = staticmethod(lambda x: x)

    trainer = object.__new__(DPOTrainer)
    trainer.args, trainer.beta, trainer.model, trainer.accelerator = cfg, cfg.beta, Model(), Accelerator()
    trainer.loss_types, trainer.loss_weights = cfg.loss_type, cfg.loss_weights or [1.0] * len(cfg.loss_type)
    trainer.ld_alpha, trainer.f_divergence_type, trainer.use_weighting = cfg.ld_alpha, cfg.f_divergence_type, cfg.use_weighting
    trainer.precompute_ref_logps, trainer.aux_loss_enabled = True, False
    trainer._metrics, trainer._total_train_tokens, trainer._tp_size = {"train": defaultdict(list)}, 0, 1
    ones = torch.ones(rows, n_tokens + 1, dtype=torch.long)
    inputs = {"input_ids": ones, "attention_mask": ones, "completion_mask": ones,
              "ref_chosen_logps": rc, "ref_rejected_logps": rr}
    loss = trainer._compute_loss(trainer.model, inputs, return_outputs=False)
    metrics = trainer._metrics["train"]
    return loss.item(), metrics["rewards/chosen"][-1], metrics["rewards/rejected"][-1]


def test_sigmoid_dpo_loss_matches_trl(tmp_path):
    pytest.importorskip("trl")
    gen = torch.Generator().manual_seed(0)
    logps = -torch.rand(4, 6, generator=gen, dtype=torch.float64) * 60 - 1  # realistic summed log-probs
    for beta in (0.1, 0.5):
        pc, pr, rc, rr = logps
        ours, chosen_r, rejected_r = sigmoid_dpo_loss(pc, pr, rc, rr, beta)
        for i in range(len(pc)):  # TRL averages over the batch: compare pair by pair
            sl = slice(i, i + 1)
            trl_loss, trl_chosen, trl_rejected = _trl_sigmoid_loss(pc[sl], pr[sl], rc[sl], rr[sl], beta, tmp_path)
            assert ours[i].item() == pytest.approx(trl_loss, abs=1e-6)
            assert chosen_r[i].item() == pytest.approx(trl_chosen, abs=1e-6)
            assert rejected_r[i].item() == pytest.approx(trl_rejected, abs=1e-6)
        assert ours.mean().item() == pytest.approx(_trl_sigmoid_loss(pc, pr, rc, rr, beta, tmp_path)[0], abs=1e-6)
        assert ours.min().item() < 0.69 < ours.max().item()  # the data exercises both signs of the margin


def test_sequence_logps_hand_value_and_shift():
    # position t-1 predicts label t: label 1 from logits [0, 0] (p 1/2), label 0 from [ln 3, 0] (p 3/4)
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0], [5.0, -5.0]]])
    labels = torch.tensor([[-100, 1, 0]])
    logps, counts = sequence_logps(logits, labels)
    assert logps.item() == pytest.approx(math.log(0.5 * 0.75), abs=1e-6)
    assert counts.tolist() == [2]
    weights = torch.tensor([[9.0, 2.0, 3.0]])  # aligned to labels; the first weight never counts
    wlogps, _ = sequence_logps(logits, labels, weights=weights)
    assert wlogps.item() == pytest.approx(2 * math.log(0.5) + 3 * math.log(0.75), abs=1e-6)
    masked, n = sequence_logps(logits, torch.tensor([[-100, -100, -100]]))
    assert (masked.item(), n.item()) == (0.0, 0)


def test_sequence_logps_matches_cross_entropy_and_bf16_is_float32_safe():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 7, 11, generator=gen)
    labels = torch.randint(0, 11, (3, 7), generator=gen)
    labels[0, :4] = -7
    labels[2, 5:] = -7
    logps, counts = sequence_logps(logits, labels, mask_value=-7)
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1), ignore_index=-7, reduction="none")
    assert torch.allclose(logps, -nll.view(3, 6).sum(-1), atol=1e-5)
    assert counts.tolist() == [3, 6, 4]
    per_token, mask = token_logps(logits.bfloat16(), labels.masked_fill(labels == -7, -100))
    assert per_token.dtype == torch.float32 and mask.sum().item() == 3 + 6 + 4
    bf16_logps, _ = sequence_logps(logits.bfloat16(), labels, mask_value=-7)
    assert bf16_logps.dtype == torch.float32
    assert torch.allclose(bf16_logps, logps, atol=0.1)  # only the bf16 rounding of the logits differs


def test_sequence_logps_bad_shapes():
    with pytest.raises(ValueError, match="labels"):
        sequence_logps(torch.zeros(1, 3, 4), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="weights"):
        sequence_logps(torch.zeros(1, 3, 4), torch.zeros(1, 3, dtype=torch.long), weights=torch.ones(1, 2))
    with pytest.raises(ValueError, match="outside"):
        sequence_logps(torch.zeros(1, 3, 4), torch.tensor([[0, 9, 1]]))


def test_sft_loss_is_mean_token_nll():
    assert sft_loss(torch.tensor([-6.0, -2.0]), torch.tensor([2, 2])).item() == pytest.approx(2.0)
    assert sft_loss(torch.tensor([-6.0, -2.0]), torch.tensor([1, 3])).item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="token_counts"):
        sft_loss(torch.tensor([-1.0]), torch.tensor([0]))
