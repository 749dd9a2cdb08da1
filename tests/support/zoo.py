"""Tiny torch models with the shapes real ones have: several named inputs, dict/tuple outputs, a
sequence axis, a tiny BERT from a config (never downloaded), a data-dependent branch. Untrained
(seeded): the tests compare runtimes, not accuracy. torch is imported by the functions."""

from __future__ import annotations

from typing import Any

import numpy as np

VOCAB = 20


def multi_input() -> Any:
    """``input_ids`` (int64) + ``attention_mask`` + a float feature vector -> ``{"logits", "probabilities"}``."""
    import torch

    class MultiInput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(VOCAB, 4)
            self.head = torch.nn.Linear(4 + 3, 3)

        def forward(self, input_ids, attention_mask, features):
            mask = attention_mask.unsqueeze(-1).to(torch.float32)
            pooled = (self.emb(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            logits = self.head(torch.cat([pooled, features], dim=1))
            return {"logits": logits, "probabilities": logits.softmax(-1)}

    torch.manual_seed(0)
    return MultiInput()


def text_batch(rows: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.ones((rows, length), dtype=np.int64)
    mask[::2, length - 1 :] = 0  # some padding
    return {
        "input_ids": rng.integers(0, VOCAB, (rows, length)).astype(np.int64),
        "attention_mask": mask,
        "features": rng.standard_normal((rows, 3)).astype(np.float32),
    }


def two_heads() -> Any:
    """One input, a tuple out: (class logits, a 2-D embedding)."""
    import torch

    class TwoHeads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Linear(6, 8)
            self.cls = torch.nn.Linear(8, 4)
            self.emb = torch.nn.Linear(8, 2)

        def forward(self, x):
            h = torch.relu(self.body(x))
            return self.emb(h), self.cls(h)

    torch.manual_seed(1)
    return TwoHeads()


def sequence() -> Any:
    """(N, T, 4) -> one value per sequence: a Conv1d over a time axis of any length, then its mean."""
    import torch

    class Seq(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv1d(4, 6, 3, padding=1)
            self.out = torch.nn.Linear(6, 1)

        def forward(self, x):
            h = torch.relu(self.conv(x.transpose(1, 2)))  # (N, 6, T)
            return self.out(h.mean(dim=2))

    torch.manual_seed(2)
    return Seq()


def baked_batch() -> Any:
    """A ``reshape(2, -1)``: the batch size of the example is baked into the model."""
    import torch

    class Baked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.lin(x).reshape(2, -1)

    torch.manual_seed(5)
    return Baked()


def branchy() -> Any:
    """A branch on a tensor's value: the ONNX exporter cannot follow it."""
    import torch

    class Branchy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)

        def forward(self, x):
            if x.sum() > 0:
                return self.lin(x)
            return -self.lin(x)

    torch.manual_seed(3)
    return Branchy()


def tiny_bert() -> Any:
    """A 1-layer BertForSequenceClassification from a config (nothing downloaded); it returns a ModelOutput."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    cfg = BertConfig(
        vocab_size=VOCAB,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
        num_labels=3,
    )
    torch.manual_seed(4)
    return BertForSequenceClassification(cfg).eval()


def eager(model: Any, *xs: np.ndarray, **named: np.ndarray) -> Any:
    """The model's own output on numpy inputs, in eval mode."""
    import torch

    model.eval()
    with torch.no_grad():
        return model(*(torch.from_numpy(x) for x in xs), **{k: torch.from_numpy(v) for k, v in named.items()})
