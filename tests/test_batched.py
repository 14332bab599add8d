"""fit_many: each of K batched trainings equals a separate fit of that model with the same seed.

Tolerance: parameters and every float History field agree with ``fit`` to
``rtol=1e-5, atol=1e-6``; steps, epochs and accuracies agree exactly. Why
not bitwise: the batched GEMM (``baddbmm``/``bmm`` over K models) may
accumulate in another order than the per-model ``addmm``/``mm`` that autograd
runs (MKL picks another kernel for some small shapes), ATen's fused Adam
kernel rounds some updates differently in the last bit, and the per-model
mini-batch losses are reduced in one batched reduction. Each is a relative
error of a few float32 ulps (ε = 1.2e-7) per step; over the ≤ 40 steps of
these tests, with weights and losses of order 1, the observed worst
difference is below 1e-6, so ``1e-5`` relative (~100 ulps) leaves a margin
without hiding a real difference (a wrong seed, mask, lr or penalty changes
results at the 1e-3 level or more). Accuracies are compared exactly: the
data are fixed and a last-bit change flips an argmax only at an exact tie.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dlverify.data import TensorData
from dlverify.errors import NonFiniteLossError
from dlverify.models import function_net, initialize, mlp
from dlverify.train import (
    AdditiveDataNoise,
    L1Penalty,
    L2Penalty,
    RandomAffine,
    WeightNoise,
    fit,
    fit_many,
    l1_penalty,
    l2_penalty,
)
from dlverify.train._stacked_optim import _clamp_is_exact, make_stacked_optimizer
from dlverify.train.optimizers import make_optimizer

RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run this module's tiny trainings on one thread (restored afterwards).

    With the cores shared with other jobs, a second OpenMP thread only adds
    waits at every parallel region: this file took 24–58 s with torch's
    default two threads and 3 s with one on the shared 2-core machine. Both
    sides of every comparison run with the same setting.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


FLOAT_FIELDS = ("train_loss", "train_eval_loss", "val_loss", "step_loss")
EXACT_FIELDS = ("step", "epoch", "train_acc", "train_eval_acc", "val_acc")


def blobs(n: int = 100, features: int = 6, classes: int = 3, seed: int = 0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = torch.randn(n, features, generator=g) + 1.5 * F.one_hot(y, features).float()
    return TensorData(x, y)


def net(seed: int, sizes=(6, 8, 7, 3), activation="relu", dropout: float = 0.0) -> nn.Module:
    return initialize(
        mlp(list(sizes), activation=activation, dropout=dropout),
        "he_normal",
        generator=torch.Generator().manual_seed(seed),
    )


def assert_same_as_fit(make_model, seeds, train, *, many_kwargs=None, per_model=None, **kwargs):
    """Train ``make_model(seed)`` with fit_many and, one by one, with fit; compare everything but ``seconds``.

    ``kwargs`` go to both; ``per_model[name]`` is a list whose k-th entry goes to
    the k-th fit call and whose whole goes to fit_many; ``many_kwargs`` go to fit_many only.
    """
    per_model = per_model or {}
    models = [make_model(seed) for seed in seeds]
    originals = [copy.deepcopy(m) for m in models]
    data_list = train if isinstance(train, list) else [train] * len(seeds)
    histories = fit_many(models, train, seeds=seeds, **kwargs, **per_model, **(many_kwargs or {}))
    assert len(histories) == len(seeds)
    for k, (model, reference, seed, history) in enumerate(zip(models, originals, seeds, histories)):
        own = {name: values[k] for name, values in per_model.items()}
        expected = fit(reference, data_list[k], seed=seed, **kwargs, **own)
        for p, q in zip(model.parameters(), reference.parameters()):
            torch.testing.assert_close(
                p, q, rtol=RTOL, atol=ATOL, msg=lambda m, k=k: f"model {k}: {m}"
            )
        for name in EXACT_FIELDS:
            assert getattr(history, name) == getattr(expected, name), f"model {k}: {name}"
        for name in FLOAT_FIELDS:
            got, want = getattr(history, name), getattr(expected, name)
            assert len(got) == len(want), (
                f"model {k}: {name} has {len(got)} values, fit {len(want)}"
            )
            for a, b in zip(got, want):
                assert math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL), (
                    f"model {k}: {name} {a} vs {b}"
                )
        assert len(history.seconds) == len(expected.seconds)
    return models, histories


# -- equality with fit -----------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_each_model_trains_as_fit_would(optimizer, activation):
    # 100 rows in batches of 32: the last batch of every epoch has 4 rows.
    assert_same_as_fit(
        lambda s: net(s, activation=activation),
        [0, 1, 2],
        blobs(),
        optimizer=optimizer,
        batch_size=32,
        epochs=3,
        val=blobs(40, seed=1),
        evaluate_train=True,
        record_steps=True,
    )


def test_exact_adam_operations_also_match():
    assert_same_as_fit(
        net,
        [3, 4],
        blobs(),
        batch_size=16,
        epochs=2,
        val=blobs(30, seed=2),
        many_kwargs={"fused_adam": False},
    )


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_stacked_optimizer_is_torchs_bit_for_bit_on_zero_and_subnormal_state(name):
    """The square root of max(state, FLT_MIN), taken for speed, changes no bit of any update.

    Gradients mix exact zeros (state that stays 0), subnormals (state that
    underflows), values near FLT_MIN and ordinary ones; the reference is
    ``torch.optim``'s single-tensor implementation with the same settings.
    """
    generator = torch.Generator().manual_seed(0)
    tiny = torch.finfo(torch.float32).tiny
    scales = torch.tensor([0.0, 1e-42, tiny, 1e-20, 1e-3, 1.0]).repeat_interleave(50)
    start = torch.randn(2, scales.numel(), generator=generator)
    params, grad = start.clone(), torch.zeros_like(start)
    stacked = make_stacked_optimizer(name, params, grad, [1e-3, 1e-3])
    references = [start[k].clone().requires_grad_() for k in range(2)]
    optimizers = [make_optimizer(name, [p], foreach=False) for p in references]
    for _ in range(40):
        grad.copy_(torch.randn(2, scales.numel(), generator=generator) * scales)
        stacked.step()
        for k, (p, optimizer) in enumerate(zip(references, optimizers)):
            p.grad = grad[k].clone()
            optimizer.step()
    for k, p in enumerate(references):
        assert torch.equal(params[k], p.detach()), f"model {k}"
    assert stacked._clamp, "the clamp should hold for Keras' settings in float32"


def test_the_square_root_clamp_is_skipped_where_it_would_change_a_result():
    assert _clamp_is_exact(1e-7, (1 - 0.999) ** 0.5, torch.float32)
    assert not _clamp_is_exact(1e-7, (1 - 0.999) ** 0.5, torch.float64)  # ε's ulp is 2⁻²⁹ as small
    assert not _clamp_is_exact(1e-30, 1.0, torch.float32)
    assert not _clamp_is_exact(1e-7, 1.0, torch.float16)


def test_dropout_masks_are_fits_with_per_model_rates():
    def model(seed):
        rate = {0: 0.0, 1: 0.3, 2: 0.6}[seed]
        return initialize(
            nn.Sequential(
                nn.Linear(6, 16),
                nn.ReLU(),
                nn.Dropout(rate),
                nn.Linear(16, 12),
                nn.Tanh(),
                nn.Dropout(rate / 2),
                nn.Linear(12, 3),
            ),
            "he_normal",
            generator=torch.Generator().manual_seed(seed),
        )

    assert_same_as_fit(
        model,
        [0, 1, 2],
        blobs(),
        batch_size=25,
        epochs=3,
        val=blobs(40, seed=1),
        evaluate_train=True,
        record_steps=True,
    )


def test_per_model_learning_rates():
    assert_same_as_fit(
        net,
        [0, 1, 2],
        blobs(),
        optimizer="sgd",
        batch_size=20,
        epochs=2,
        per_model={"lr": [0.3, 0.05, 0.01]},
    )
    assert_same_as_fit(
        net,
        [0, 1],
        blobs(),
        optimizer="adam",
        batch_size=20,
        epochs=2,
        per_model={"lr": [3e-2, 1e-3]},
        record_steps=True,
    )


def test_penalties_per_model_and_per_layer():
    penalties = [
        L1Penalty(0.01),
        L2Penalty(0.02, layers=(0, 1)),
        None,
        L2Penalty(0.05, layers=(-1,)),
    ]
    assert_same_as_fit(
        net,
        [0, 1, 2, 3],
        blobs(),
        batch_size=32,
        epochs=2,
        record_steps=True,
        per_model={"penalty": penalties},
    )
    assert_same_as_fit(
        net,
        [5, 6],
        blobs(),
        optimizer="rmsprop",
        batch_size=50,
        epochs=2,
        penalty=L1Penalty(0.003, layers=[1]),
    )


def test_per_model_training_sets():
    base = blobs()
    noisy = [
        TensorData(
            base.inputs
            + 0.3 * torch.randn(base.inputs.shape, generator=torch.Generator().manual_seed(s)),
            base.targets,
        )
        for s in range(3)
    ]
    assert_same_as_fit(
        net, [0, 1, 2], noisy, batch_size=32, epochs=2, evaluate_train=True, val=blobs(30, seed=1)
    )


def test_transforms_get_each_models_generator():
    noise = [AdditiveDataNoise(input_std=0.5), None, AdditiveDataNoise(input_std=0.1)]
    assert_same_as_fit(
        net, [0, 1, 2], blobs(), batch_size=32, epochs=2, per_model={"transform": noise}
    )


def test_image_augmentation_through_flatten():
    g = torch.Generator().manual_seed(0)
    images = TensorData(torch.rand(60, 8, 8, generator=g), torch.randint(0, 4, (60,), generator=g))
    assert_same_as_fit(
        lambda s: net(s, sizes=(64, 10, 4)),
        [0, 1],
        images,
        batch_size=16,
        epochs=2,
        transform=RandomAffine(translation=0.1, zoom=0.1, rotation_degrees=10),
        val=images,
    )


def test_steps_eval_every_and_full_batch():
    assert_same_as_fit(
        net,
        [0, 1],
        blobs(),
        batch_size=16,
        steps=17,
        eval_every=5,
        val=blobs(30, seed=1),
        record_steps=True,
    )
    # batch_size >= n: full-batch gradient descent on the unshuffled set, as fit does.
    assert_same_as_fit(
        net,
        [0, 1, 2],
        blobs(),
        optimizer="sgd",
        lr=0.1,
        batch_size=500,
        steps=12,
        eval_every=4,
        evaluate_train=True,
    )


def test_regression_with_mse_and_a_generic_loss():
    x = torch.linspace(-2, 2, 50).unsqueeze(1)
    data = TensorData(x, torch.sin(2 * x))

    def make(seed):
        return initialize(
            function_net(10), "glorot_uniform", generator=torch.Generator().manual_seed(seed)
        )

    assert_same_as_fit(
        make,
        [0, 1, 2],
        data,
        loss_fn=F.mse_loss,
        batch_size=50,
        steps=30,
        eval_every=10,
        val=data,
        record_steps=True,
    )
    assert_same_as_fit(
        make,
        [0, 1],
        data,
        loss_fn=lambda out, y: (out - y).abs().mean(),
        batch_size=8,
        epochs=2,
        val=data,
    )


def test_probability_targets():
    data = blobs()
    soft = TensorData(data.inputs, 0.8 * F.one_hot(data.targets, 3).float() + 0.2 / 3)
    assert_same_as_fit(net, [0, 1], soft, batch_size=32, epochs=2, val=soft, evaluate_train=True)

    def smooth(x, y, generator):  # a transform may turn class indices into probabilities
        return x, 0.9 * F.one_hot(y, 3).float() + 0.1 / 3

    assert_same_as_fit(net, [2, 3], data, batch_size=32, epochs=2, transform=smooth)


def test_bias_free_layers_identity_and_float64():
    def make(seed):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Linear(6, 9, bias=False), nn.Identity(), nn.Sigmoid(), nn.ReLU(), nn.Linear(9, 3)
        ).double()

    data = TensorData(blobs().inputs.double(), blobs().targets)
    assert_same_as_fit(make, [0, 1], data, batch_size=32, epochs=2, val=data)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    k=st.integers(1, 4),
    hidden=st.lists(st.integers(1, 12), min_size=0, max_size=2),
    batch_size=st.integers(1, 40),
    n=st.integers(5, 40),
)
def test_any_k_widths_and_batch_sizes(k, hidden, batch_size, n):
    data = blobs(n=n, features=5, classes=3)
    assert_same_as_fit(
        lambda s: net(s, sizes=(5, *hidden, 3)),
        list(range(10, 10 + k)),
        data,
        batch_size=batch_size,
        steps=6,
        eval_every=2,
        evaluate_train=True,
        record_steps=True,
    )


# -- callbacks, state, randomness ----------------------------------------------------------------


class Snapshot:
    """Records the model's first kernel and the history length at each evaluation."""

    def __init__(self):
        self.kernels, self.lengths = [], []

    def after_evaluation(self, history, model):
        self.kernels.append(next(model.parameters()).detach().clone())
        self.lengths.append(len(history.train_loss))


def test_after_evaluation_sees_each_models_current_parameters():
    models = [net(s) for s in (0, 1)]
    shared, own = Snapshot(), [Snapshot(), Snapshot()]
    fit_many(models, blobs(), seeds=[0, 1], batch_size=50, epochs=3, callbacks=[shared])
    assert shared.lengths == [1, 1, 2, 2, 3, 3]  # model 0 then model 1 at each evaluation
    torch.testing.assert_close(shared.kernels[-1], next(models[1].parameters()))
    models = [net(s) for s in (0, 1)]
    fit_many(models, blobs(), seeds=[0, 1], batch_size=50, epochs=3, callbacks=[[own[0]], [own[1]]])
    reference = net(1)
    trace = Snapshot()
    fit(reference, blobs(), seed=1, batch_size=50, epochs=3, callbacks=[trace])
    for a, b in zip(own[1].kernels, trace.kernels):
        torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL)


def test_penalty_dataclasses_are_the_penalty_functions():
    model = net(0)
    kernels = nn.ModuleList([m for m in model.modules() if isinstance(m, nn.Linear)][:2])
    assert torch.equal(L1Penalty(0.1, layers=(0, 1))(model), l1_penalty(kernels, 0.1))
    assert torch.equal(L2Penalty(0.1)(model), l2_penalty(model, 0.1))
    assert L2Penalty(0.1, layers=[0, 2]) == L2Penalty(0.1, layers=(0, 2))  # frozen, hashable values
    with pytest.raises(IndexError, match="out of range"):
        L1Penalty(0.1, layers=(3,))(model)
    with pytest.raises(ValueError, match="twice"):
        L1Penalty(0.1, layers=(0, -3))(model)
    with pytest.raises(ValueError, match="factor"):
        L1Penalty(-1.0)


def test_global_rng_and_model_modes():
    models = [net(s, dropout=0.2) for s in (0, 1)]
    for m in models:
        m.eval()
    before = torch.random.get_rng_state()
    fit_many(models, blobs(), seeds=[0, 1], batch_size=32, epochs=1, val=blobs(20, seed=1))
    assert torch.equal(before, torch.random.get_rng_state())
    assert all(m.training for m in models)  # fit leaves its model in train mode too


# -- errors --------------------------------------------------------------------------------------


def test_mismatched_architectures_name_the_first_difference():
    with pytest.raises(
        ValueError, match=r"model 1 differs from model 0 at layer 3: Linear\(8→5\) vs Linear\(8→7\)"
    ):
        fit_many([net(0), net(1, sizes=(6, 8, 5, 3))], blobs(), seeds=[0, 1], epochs=1)
    with pytest.raises(
        ValueError, match="model 1 differs from model 0 at layer 2: Sigmoid vs ReLU"
    ):
        fit_many([net(0), net(1, activation="sigmoid")], blobs(), seeds=[0, 1], epochs=1)


def test_unsupported_layers_point_to_fit():
    model = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
    with pytest.raises(
        TypeError, match="fit_many supports MLP layers only.*BatchNorm1d at layer 1.*with fit"
    ):
        fit_many([model], blobs(), seeds=[0], epochs=1)

    class ScaledLinear(nn.Linear):  # a subclass may compute something else
        def forward(self, x):
            return 2 * super().forward(x)

    with pytest.raises(TypeError, match="ScaledLinear"):
        fit_many([nn.Sequential(ScaledLinear(6, 3))], blobs(), seeds=[0], epochs=1)
    hooked = net(0)
    hooked[1].register_forward_hook(lambda module, inputs, output: output * 0)
    with pytest.raises(ValueError, match="hooks"):
        fit_many([hooked], blobs(), seeds=[0], epochs=1)


def test_argument_errors():
    data = blobs()
    with pytest.raises(TypeError, match="L1Penalty/L2Penalty.*not a plain callable"):
        fit_many([net(0)], data, seeds=[0], epochs=1, penalty=lambda m: l2_penalty(m, 0.1))
    with pytest.raises(TypeError, match="only after_evaluation callbacks.*before_step|after_step"):
        fit_many(
            [net(0)],
            data,
            seeds=[0],
            epochs=1,
            callbacks=[WeightNoise(0.1, 1, torch.Generator().manual_seed(0))],
        )

    class BeforeStep:
        def before_step(self, step, model, optimizer):
            pass

    with pytest.raises(TypeError, match="before_step"):
        fit_many([net(0)], data, seeds=[0], epochs=1, callbacks=[BeforeStep()])
    with pytest.raises(ValueError, match="seeds: got 1 seeds for 2 models"):
        fit_many([net(0), net(1)], data, seeds=[0], epochs=1)
    with pytest.raises(ValueError, match="lr: got 3 values for 2 models"):
        fit_many([net(0), net(1)], data, seeds=[0, 1], epochs=1, lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="exactly one of epochs= or steps="):
        fit_many([net(0)], data, seeds=[0])
    with pytest.raises(ValueError, match="distinct"):
        model = net(0)
        fit_many([model, model], data, seeds=[0, 1], epochs=1)
    with pytest.raises(ValueError, match="must agree in length"):
        fit_many([net(0), net(1)], [data, blobs(n=50)], seeds=[0, 1], epochs=1)
    with pytest.raises(TypeError, match="optimizer name"):
        model = net(0)
        fit_many(
            [model],
            data,
            seeds=[0],
            epochs=1,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        )
    with pytest.raises(ValueError, match="unknown optimizer"):
        fit_many([net(0)], data, seeds=[0], epochs=1, optimizer="adagrad")


def test_exploding_loss_names_the_model_and_step():
    data = blobs()
    with pytest.raises(
        NonFiniteLossError,
        match=r"model 1 \(seed 8\): training loss became .* by step 4 "
        r"\(lr=1e\+20\)",
    ):
        fit_many(
            [net(7), net(8)],
            data,
            seeds=[7, 8],
            optimizer="sgd",
            lr=[1e-3, 1e20],
            batch_size=25,
            steps=8,
            eval_every=4,
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_fit_without_dropout_and_runs_with_it():
    device = torch.device("cuda")
    data, val = blobs().to(device), blobs(40, seed=1).to(device)
    assert_same_as_fit(
        lambda s: net(s).to(device),
        [0, 1, 2],
        data,
        batch_size=32,
        epochs=2,
        val=val,
        evaluate_train=True,
    )
    models = [net(s, dropout=0.3).to(device) for s in (0, 1)]
    histories = fit_many(models, data, seeds=[0, 1], batch_size=32, epochs=2, val=val)
    assert all(math.isfinite(h.train_loss[-1]) for h in histories)


@pytest.mark.parametrize(
    ("optimizer", "fused_adam"),
    [("adam", False), ("adam", True), ("rmsprop", False), ("sgd", False)],
)
def test_a_model_does_not_depend_on_its_companions(optimizer, fused_adam):
    """Bitwise: a model trained alone, beside others or at another position gives the same run (one thread).

    This is what lets a run cache store each seed's run alone although the
    seeds of a look are trained together. With the fused Adam kernel it holds
    because each model's row is a tensor of its own (the kernel's scalar tail
    rounds differently from its vectorized body).
    """
    data, val = blobs(120, features=20, classes=10), blobs(60, features=20, classes=10, seed=1)

    def train(seeds):
        models = [
            initialize(
                mlp([20, 16, 16, 10], dropout=0.3),
                "glorot_uniform",
                generator=torch.Generator().manual_seed(s),
            )
            for s in seeds
        ]
        histories = fit_many(
            models,
            data,
            optimizer=optimizer,
            batch_size=16,
            epochs=3,
            seeds=seeds,
            val=val,
            penalty=L1Penalty(1e-3),
            fused_adam=fused_adam,
        )
        return {s: (h, m) for s, h, m in zip(seeds, histories, models)}

    runs = [train([7]), train([0, 7]), train([7, 1, 2, 3])]
    for run in runs[1:]:
        (h, m), (h_alone, m_alone) = run[7], runs[0][7]
        for field in FLOAT_FIELDS + EXACT_FIELDS:
            assert getattr(h, field) == getattr(h_alone, field), field
        for a, b in zip(m.parameters(), m_alone.parameters()):
            assert torch.equal(a, b)
