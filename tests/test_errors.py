"""One error family: what dlverify raises on purpose is a DlverifyError that says what to do.

Each error also keeps the built-in base a caller would catch for the same mistake
(``ValueError`` for a bad value, ``TypeError`` for a wrong type).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torch import nn

from dlverify.errors import (
    ClaimError,
    ClaimIncompleteError,
    ClaimTypeError,
    DlverifyError,
    ModelError,
    ProfileError,
    TrainingError,
    TrainingTypeError,
)
from dlverify.evidence import ClaimRecord, Finding
from dlverify.models import initialize, mlp
from dlverify.profiles import Profile
from dlverify.train import fit

PACKAGE = Path(__file__).resolve().parents[1] / "dlverify"
CHECKED = [
    "train",
    "models",
    "profiles.py",
    "evidence.py",
    "report",
    "plugin.py",
    "_plugin",
    "__main__.py",
]
BUILT_INS = {"ValueError", "TypeError", "RuntimeError", "KeyError", "IndexError", "Exception"}


def _modules():
    for name in CHECKED:
        path = PACKAGE / name
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


@pytest.mark.parametrize("path", list(_modules()), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_plain_built_in_raise(path):
    """Every ``raise`` of a built-in exception here would escape ``except DlverifyError``."""
    plain = [
        f"{path.name}:{node.lineno} raises {node.exc.func.id}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id in BUILT_INS
    ]
    assert not plain


def _data():
    from dlverify.data.tensors import TensorData

    return TensorData(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))


@pytest.mark.parametrize(
    "call, error, built_in",
    [
        (lambda: fit(mlp([3, 2]), _data(), epochs=1, steps=1), TrainingError, ValueError),
        (lambda: fit(mlp([3, 2]), _data(), epochs=1, batch_size=0), TrainingError, ValueError),
        (
            lambda: fit(mlp([3, 2]), _data(), epochs=1, optimizer="nesterov"),
            TrainingError,
            ValueError,
        ),
        (lambda: mlp([3]), ModelError, ValueError),
        (lambda: initialize(mlp([3, 2]), "no-such-scheme"), ModelError, ValueError),
        (lambda: initialize(nn.ReLU(), "he_normal"), ModelError, ValueError),
        (lambda: Profile.make("default", 0), ProfileError, ValueError),
        (lambda: Finding("", fails=["x"]), ClaimError, ValueError),
        (lambda: ClaimRecord(claim_id="a.b").expect("yes", "x"), ClaimTypeError, TypeError),
        (lambda: ClaimRecord(claim_id="a.b").conclude(), ClaimIncompleteError, RuntimeError),
    ],
)
def test_errors_are_one_family_and_keep_their_built_in_base(call, error, built_in):
    with pytest.raises(error) as raised:
        call()
    assert isinstance(raised.value, DlverifyError) and isinstance(raised.value, built_in)
    assert len(str(raised.value)) > 20  # a sentence, not a bare name


def test_history_metric_type_error():
    from dlverify.train import History

    with pytest.raises(TrainingTypeError):
        History.from_dict({"no_such_metric": [1.0]})
