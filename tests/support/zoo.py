"""Tiny torch models with the shapes real ones have: several named inputs, dict/tuple outputs, a
sequence axis, a tiny BERT from a config (never downloaded), a data-dependent branch. Untrained
(seeded): the tests compare runtimes, not accuracy. torch is imported by the functions."""

from __future__ import annotations

from pathlib import Path
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


# -- the parity zoo: deep standard shapes at small width (tests/test_parity_zoo.py, benchmarks/bench_parity.py) --
def resnet(blocks: int = 16, width: int = 16, classes: int = 10, seed: int = 10) -> Any:
    """A ResNet-50-like stack: a stem, ``blocks`` bottleneck blocks (1x1, 3x3, 1x1 convs with batch
    norm, expansion 4, stride 2 at three stage boundaries) and a pooled linear head. Batch-norm
    statistics are randomised so that eval mode does real arithmetic (as in a trained net)."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, mid: int, stride: int) -> None:
            super().__init__()
            cout = mid * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout),
            )  # fmt: skip
            self.skip = (
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                if stride != 1 or cin != cout
                else nn.Identity()
            )

        def forward(self, x):
            return torch.relu(self.body(x) + self.skip(x))

    torch.manual_seed(seed)
    layers: list[Any] = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    cin, stages = width, [3, 4, 6, 3] if blocks == 16 else [blocks // 4 or 1] * 4
    for i, n in enumerate(stages):
        mid = width * 2**i // 2 or 1
        for j in range(n):
            layers.append(Bottleneck(cin, mid, 2 if j == 0 and i else 1))
            cin = mid * 4
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))
    _randomise_norms(model)
    return model.eval()


def _randomise_norms(model: Any) -> None:
    import torch

    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def mobilenet(blocks: int = 10, width: int = 16, classes: int = 10, seed: int = 11, out_scale: float = 1.0) -> Any:
    """A MobileNet-like stack: depthwise 3x3 + pointwise 1x1 with batch norm and ReLU6. ``out_scale``
    shrinks the head (1e-9: logits of ~1e-9, as a random-init MobileNet's can be)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    layers: list[Any] = [nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU6()]
    c = width
    for i in range(blocks):
        out = c * 2 if i % 3 == 2 else c
        layers += [
            nn.Conv2d(c, c, 3, 2 if i % 3 == 2 else 1, 1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU6(),
            nn.Conv2d(c, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU6(),
        ]  # fmt: skip
        c = out
    head = nn.Linear(c, classes)
    with torch.no_grad():
        head.weight.mul_(out_scale)
        head.bias.mul_(out_scale)
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    _randomise_norms(model)
    return model.eval()


def encoder(layers: int = 4, d: int = 64, classes: int = 5, seed: int = 12) -> Any:
    """A 4-layer ``nn.TransformerEncoder`` over (N, T, d) features, mean-pooled to class logits."""
    import torch
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.1, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Linear(d, classes)

        def forward(self, x):
            return self.head(self.enc(x).mean(dim=1))

    torch.manual_seed(seed)
    return Encoder().eval()


def lstm(layers: int = 2, hidden: int = 32, features: int = 8, seed: int = 13) -> Any:
    """A 2-layer LSTM over (N, T, features); the last step's state to 4 class logits."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(features, hidden, layers, batch_first=True)
            self.head = nn.Linear(hidden, 4)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    torch.manual_seed(seed)
    return Net().eval()


def baked_resnet() -> Any:
    """A correct-looking convnet whose head reshapes to the example's batch size (``reshape(4, -1)``)."""
    import torch

    body = resnet(blocks=4, width=8)

    class Baked(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x).reshape(4, -1)

    return Baked().eval()


def traced_branch() -> Any:
    """A python ``if`` on the batch size: ``torch.jit.trace`` and the ONNX exporter record the example's
    path, eager takes the other on a single row (the difference is a wrong answer)."""
    import torch

    class Branch(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = mobilenet(blocks=3, width=8)

        def forward(self, x):
            out = self.body(x)
            if x.shape[0] > 1:  # trace and export follow the example's path (a batch)
                return out
            return out * 1.01  # eager takes this one on a single row

    return Branch().eval()


def batch_stat() -> Any:
    """Normalises each row by the batch's mean: every batch size gives other answers (eager agrees
    with the exports on the same batch, so only single rows and slices catch it)."""
    import torch

    class Stat(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(8, 4)

        def forward(self, x):
            return self.lin(x - x.mean(dim=0, keepdim=True))

    torch.manual_seed(14)
    return Stat().eval()


def wrong_operator(src: Path, dst: Path) -> None:
    """The first Relu (or Clip) of the graph as a LeakyRelu: a plausible converter bug."""
    import onnx

    m = onnx.load(str(src))
    for node in m.graph.node:
        if node.op_type in ("Relu", "Clip"):
            node.op_type = "LeakyRelu"
            del node.input[1:]
            break
    onnx.save(m, str(dst))


def scaled_output(src: Path, dst: Path, factor: float) -> None:
    """Every output multiplied by ``factor``: a wrong constant (1.01: a 1% error whatever the scale)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(src))
    out = m.graph.output[0].name
    for node in m.graph.node:
        node.output[:] = ["pre_broken" if o == out else o for o in node.output]
    m.graph.initializer.append(numpy_helper.from_array(np.array(factor, dtype=np.float32), "broken_k"))
    m.graph.node.append(helper.make_node("Mul", ["pre_broken", "broken_k"], [out]))
    onnx.save(m, str(dst))


def images(rows: int, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, 3, size, size)).astype(np.float32)


def series(rows: int, length: int = 12, features: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, length, features)).astype(np.float32)
