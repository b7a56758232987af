"""The typed configuration of a run: one dataclass per section, validated at load time.

Every field has a default that runs the embedded ShapesWorld job on a laptop-sized CPU
machine; `configs/*.yaml` override what differs (real hub models, GPUs, paper settings).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

BUILTIN_PREFIX = "builtin:"  # models the main job trains itself in ShapesWorld (cached in DIR/base/)


@dataclass
class RunSection:
    output: str = "runs/shapes"
    rounds: int = 3
    seed: int = 0
    # ShapesWorld control: the same training compute spent on more SFT of the base policy on its
    # own training data, to show the gain comes from feedback, not from more training
    sft_control: bool = False


@dataclass
class RaySection:
    address: Optional[str] = None  # None: start a private local cluster
    num_cpus: Optional[int] = None  # local cluster only; None = all cores


@dataclass
class WorldSection:
    """ShapesWorld: the embedded world where hallucination is measured exactly."""

    image_size: int = 64
    cooccur_prob: float = 0.5  # how often an object's partner really shares the scene
    halluc_prob: float = 0.35  # annotation bias in the base policy's SFT captions
    # how the biased annotator hallucinates (rlaifv/world/captions.py): "insert" adds the partner
    # as an extra object (hallucinated answers are longer); "substitute" misnames an object as
    # the partner; "displace" adds the partner and leaves a real object unnamed (same length)
    halluc_mode: Literal["insert", "substitute", "displace"] = "insert"
    eval_seed: int = 10_007  # never used for training or collection
    eval_size: int = 300


@dataclass
class SFTSection:
    """How a builtin base model is trained (supervised) before the rounds start."""

    train_size: int = 8000
    steps: int = 1500
    # policy only: SFT steps on clean captions before the `steps` on biased ones. A model that
    # sees misnamed objects from the start never learns to see (world.halluc_mode displace or
    # substitute); one that learned to see first picks up the bias like a real MLLM's prior
    clean_steps: int = 0
    # policy only: SFT steps on insert-world captions (world.halluc_prob of them name an absent
    # partner as an extra object) after the clean ones and before `steps` in world.halluc_mode.
    # The policy learns to see and the co-occurrence prior there; displace then moves the prior
    # into the place of a real object, which keeps hallucinated answers as long as faithful ones
    insert_steps: int = 0
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 1
    yesno_fraction: float = 0.0  # share of yes/no rows in the SFT mix (the labeler's skill)
    # "policy": start from the trained builtin policy (its vision is learned already) and
    # fine-tune on clean data; "scratch": a fresh random model
    init: Literal["scratch", "policy"] = "scratch"
    # decoder layers appended to the init model, identity at the start (rlaifv/models/grow.py):
    # room for the colour AND shape binding a yes/no labeler needs
    add_layers: int = 0


@dataclass
class ModelSection:
    model: str = ""
    backend: Literal["vllm", "hf"] = "vllm"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    num_actors: int = 1
    num_cpus: float = 0.5  # per actor; fractional so Ray Data never deadlocks on small hosts
    num_gpus: float = 0.0  # per actor
    batch_size: int = 64  # rows per map_batches call
    max_model_len: int = 512
    tensor_parallel_size: int = 1
    sft: SFTSection = field(default_factory=SFTSection)


@dataclass
class ReferenceSection:
    model: Optional[str] = None  # None: the round's starting policy (RLAIF-V)


@dataclass
class CollectSection:
    instructions: Optional[str] = None  # parquet/jsonl; None: fresh ShapesWorld scenes per round
    num_instructions: int = 1000
    num_samples: int = 8
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 64
    repetition_penalty: float = 1.0
    splitter: Literal["rule", "llm"] = "rule"
    converter: Literal["rule", "llm"] = "rule"
    splitter_model: Optional[str] = None  # instruct LLM for splitter/converter == "llm"
    pairs_per_instruction: int = 2
    length_balance: bool = True
    repeat_as_rejected: bool = False
    require_clean_chosen: bool = False
    require_well_formed: bool = False
    shard_size: int = 256  # instructions per output shard (unit of resume)
    max_image_pixels: int = 4096 * 4096
    allow_remote_images: bool = False


@dataclass
class TrainSection:
    loss: Literal["sigmoid", "dense"] = "sigmoid"
    beta: float = 0.1
    lr: float = 5e-7
    epochs: int = 4
    batch_size: int = 8  # pairs per optimizer step, over all workers
    warmup_ratio: float = 0.05
    weight_decay: float = 0.01
    sft_weight: float = 0.0
    dense_gamma: float = 1.1
    dense_normalize: bool = False
    precompute_reference: bool = True
    zero_stage: int = 2
    dtype: Literal["float32", "bfloat16"] = "bfloat16"
    num_workers: int = 2
    use_gpu: bool = False
    num_cpus_per_worker: float = 0.5
    freeze_vision: bool = False
    checkpoints_per_epoch: int = 1
    max_failures: int = 1
    report_every: int = 10


@dataclass
class EvalSection:
    temperature: float = 0.7
    num_samples: int = 1
    max_tokens: int = 64
    # > 0: after the rounds, best-of-N self-reward of the final model on the test split with
    # K candidates per prompt (curve over N = 1, 2, 4, ... <= K; rlaifv bestofn does it alone)
    best_of_n_k: int = 0


SERVE_SELECTORS = ("self_reward", "policy_loglik")  # rlaifv.serving.openai_schema.selection_score


@dataclass
class ServeSection:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: Optional[str] = None  # or env RLAIFV_API_KEY
    default_n: int = 8
    max_n: int = 32
    max_tokens: int = 256
    max_body_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 2048 * 2048
    allow_remote_images: bool = False
    beta: float = 0.1
    # which candidate the endpoint returns: the paper's length-normalised self-reward, or the
    # aligned model's mean token log-prob (no reference; README: best-of-N, measured on ShapesWorld)
    selector: Literal[SERVE_SELECTORS] = "self_reward"
    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 4.0


@dataclass
class Config:
    run: RunSection = field(default_factory=RunSection)
    ray: RaySection = field(default_factory=RaySection)
    world: WorldSection = field(default_factory=WorldSection)
    policy: ModelSection = field(default_factory=lambda: ModelSection(model=BUILTIN_PREFIX + "shapes-policy"))
    labeler: ModelSection = field(default_factory=lambda: ModelSection(model=BUILTIN_PREFIX + "shapes-labeler"))
    reference: ReferenceSection = field(default_factory=ReferenceSection)
    collect: CollectSection = field(default_factory=CollectSection)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalSection = field(default_factory=EvalSection)
    serve: ServeSection = field(default_factory=ServeSection)
