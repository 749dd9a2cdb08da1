"""Small real models for export tests: an MLP and a CNN trained on scikit-learn's digits (seconds)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def _fit(model, x: np.ndarray, y: np.ndarray, steps: int):
    import torch

    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return model


def mlp(steps: int = 60, hidden: int = 32):
    import torch

    torch.manual_seed(0)
    x, y = digits()
    m = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    return _fit(m, x, y, steps)


def cnn(steps: int = 40):
    import torch

    class CNN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
            self.pool = torch.nn.MaxPool2d(2)
            self.fc = torch.nn.Linear(8 * 4 * 4, 10)
            self.drop = torch.nn.Dropout(0.2)  # makes train() vs eval() observable

        def forward(self, x):
            h = self.pool(torch.relu(self.conv(x)))
            return self.fc(self.drop(h.flatten(1)))

    torch.manual_seed(0)
    x, y = digits()
    return _fit(CNN(), x.reshape(-1, 1, 8, 8), y, steps)
