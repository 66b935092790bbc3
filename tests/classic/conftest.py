"""The data the classic tests share: scikit-learn's bundled 8x8 digits, split 75/25 with a seed."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from c147.classic import StandardScaler, train_test_split


@pytest.fixture(scope="session")
def digits() -> tuple[torch.Tensor, ...]:
    """X_train, X_test, y_train, y_test: float64 whole-number pixels 0..16 (1347 / 450 samples)."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(torch.as_tensor(X), torch.as_tensor(y), test_size=0.25, random_state=0)


@pytest.fixture(scope="session")
def digits_std(digits) -> tuple[torch.Tensor, ...]:
    """The same split standardized with the training set's statistics."""
    X_train, X_test, y_train, y_test = digits
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test
