"""Training datasets and collate functions: SFT examples and DPO pairs -> padded tensors.

Pairs come in our layout or the published ones (read by `normalize_pair_row`):
- rlaifv / RLAIF-V-Dataset: `image` (bytes or {bytes, path}), `question`, `chosen`, `rejected`;
- RLHF-V-Dataset: `text` = JSON {"question", "chosen", "rejected"}, `image`.
Optional `ref_chosen_logps` / `ref_rejected_logps`: the reference model's per-token log-probs
of each response (+ eos), precomputed once per round (see pipelines/reference.py).
"""
from __future__ import annotations

import io
import json
from typing import Any, Sequence

import pyarrow.parquet as pq
import torch
from PIL import Image
from torch.utils.data import Dataset

from rlaifv.models.chat import encode_example, response_token_ids, tokenizer_of
from rlaifv.train.dense import changed_token_mask


def decode_image(value: Any) -> Image.Image:
    if isinstance(value, dict):  # HF datasets' Image feature: {"bytes": ..., "path": ...}
        value = value.get("bytes") or open(value["path"], "rb").read()
    return Image.open(io.BytesIO(value)).convert("RGB")


def normalize_pair_row(row: dict, index: int) -> dict:
    """One pair in our layout, from any supported layout; errors name the row and field."""
    if "text" in row and "chosen" not in row:
        try:
            text = json.loads(row["text"]) if isinstance(row["text"], str) else row["text"]
            row = {**row, "question": text["question"], "chosen": text["chosen"], "rejected": text["rejected"]}
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"pair row {index}: field 'text' is not RLHF-V JSON with question/chosen/rejected: {exc}")
    for field in ("image", "question", "chosen", "rejected"):
        if row.get(field) in (None, ""):
            raise ValueError(f"pair row {index}: missing field {field!r}")
    return row


class _ParquetRows(Dataset):
    """Rows of a parquet file as dicts (columns read once; images decoded lazily per item)."""

    def __init__(self, path: str, columns: Sequence[str] | None = None):
        table = pq.read_table(path, columns=columns)
        self.rows = table.to_pylist()

    def __len__(self) -> int:
        return len(self.rows)


class SFTDataset(_ParquetRows):
    """Columns: image, question, answer."""

    def __init__(self, path: str):
        super().__init__(path, columns=["image", "question", "answer"])

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


class PairDataset(_ParquetRows):
    def __getitem__(self, i: int) -> dict:
        return normalize_pair_row(self.rows[i], i)


def _pad(seqs: list[torch.Tensor], value: float) -> torch.Tensor:
    return torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=value)


def stack_examples(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token rows; concatenate image tensors along dim 0."""
    batch = {
        "input_ids": _pad([e["input_ids"] for e in examples], pad_id),
        "attention_mask": _pad([e["attention_mask"] for e in examples], 0),
        "labels": _pad([e["labels"] for e in examples], -100),
    }
    for key in ("mm_token_type_ids", "token_type_ids"):
        if key in examples[0]:
            batch[key] = _pad([e[key] for e in examples], 0)
    for key in ("pixel_values", "image_grid_thw", "image_sizes"):
        if key in examples[0]:
            batch[key] = torch.cat([e[key] for e in examples], dim=0)
    return batch


def collate_sft(rows: list[dict], processor: Any) -> dict[str, torch.Tensor]:
    examples = [encode_example(processor, r["question"], r["answer"], decode_image(r["image"])) for r in rows]
    return stack_examples(examples, tokenizer_of(processor).pad_token_id)


def collate_dpo(rows: list[dict], processor: Any, gamma: float = 0.0) -> dict[str, torch.Tensor]:
    """[chosen_1..B; rejected_1..B] in one batch (one forward), with reference log-probs.

    gamma > 0 (RLHF-V dense DPO): tokens outside matching blocks of the chosen/rejected diff
    weigh gamma, others 1, in both the policy's and the reference's summed log-probs.
    """
    images = [decode_image(r["image"]) for r in rows]
    chosen = [encode_example(processor, r["question"], r["chosen"], im) for r, im in zip(rows, images)]
    rejected = [encode_example(processor, r["question"], r["rejected"], im) for r, im in zip(rows, images)]
    batch = stack_examples(chosen + rejected, tokenizer_of(processor).pad_token_id)
    weights = []
    for r in rows:
        c_ids, r_ids = response_token_ids(processor, r["chosen"]), response_token_ids(processor, r["rejected"])
        if gamma > 0:
            c_changed, r_changed = changed_token_mask(c_ids, r_ids)
            weights.append(([gamma if ch else 1.0 for ch in c_changed], [gamma if ch else 1.0 for ch in r_changed]))
        else:
            weights.append(([1.0] * len(c_ids), [1.0] * len(r_ids)))
    token_w = [w[0] for w in weights] + [w[1] for w in weights]
    if gamma > 0:
        dense = torch.zeros(batch["labels"].shape, dtype=torch.float32)
        for i, w in enumerate(token_w):
            dense[i, batch["labels"][i] != -100] = torch.tensor(w)
        batch["weights"] = dense
    batch["weight_sums"] = torch.tensor([sum(w) for w in token_w])
    if "ref_chosen_logps" in rows[0] and rows[0]["ref_chosen_logps"] is not None:
        ref_tokens = [r["ref_chosen_logps"] for r in rows] + [r["ref_rejected_logps"] for r in rows]
        for i, (lp, w) in enumerate(zip(ref_tokens, token_w)):
            if len(lp) != len(w):
                raise ValueError(f"pair row {i % len(rows)}: {len(lp)} reference log-probs for {len(w)} "
                                 "response tokens; recompute reference log-probs with this tokenizer")
        batch["ref_logps"] = torch.tensor([sum(a * b for a, b in zip(lp, w)) for lp, w in zip(ref_tokens, token_w)],
                                          dtype=torch.float64)
    return batch


def to_pair_layout(src, dst, batch_size: int = 512):
    """Stream a published pairs file (RLAIF-V-Dataset / RLHF-V-Dataset) into our layout:
    idx, image (bytes), question, chosen, rejected. Returns `dst`."""
    from pathlib import Path

    import pyarrow as pa

    schema = pa.schema([("idx", pa.string()), ("image", pa.binary()), ("question", pa.string()),
                        ("chosen", pa.string()), ("rejected", pa.string())])
    files = sorted(Path(src).glob("*.parquet")) if Path(src).is_dir() else [Path(src)]
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    index = 0
    with pq.ParquetWriter(dst, schema) as writer:
        for f in files:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_size):
                rows = []
                for row in batch.to_pylist():
                    r = normalize_pair_row(row, index)
                    image = r["image"]
                    if isinstance(image, dict):
                        image = image.get("bytes") or open(image["path"], "rb").read()
                    rows.append({"idx": str(r.get("idx", index)), "image": image, "question": r["question"],
                                 "chosen": r["chosen"], "rejected": r["rejected"]})
                    index += 1
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    return dst
