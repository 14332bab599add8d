"""Models, init schemes and the trainer: determinism, history contents, errors."""

from __future__ import annotations

import gc
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlverify.data import TensorData, linear_problem
from dlverify.errors import NonFiniteLossError
from dlverify.models import (
    count_parameters,
    draw_kernel,
    function_net,
    initialize,
    mlp,
    softmax_regression,
)
from dlverify.train import (
    KERAS_DEFAULTS,
    AdditiveDataNoise,
    L2Penalty,
    LearningRateNoise,
    PenaltyRecorder,
    WeightNoise,
    evaluate,
    fit,
    fit_many,
    l1_penalty,
    l2_penalty,
    make_optimizer,
)


def blobs(n: int = 600, seed: int = 0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 5, generator=g) + 2.0 * F.one_hot(y, 5).float()
    return TensorData(x, y)


def small_model(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    return initialize(
        mlp([5, 16, 3], dropout=dropout), "he_normal", generator=torch.Generator().manual_seed(seed)
    )


# -- models and init ---------------------------------------------------------------


def test_architectures_have_the_reports_parameter_counts():
    assert count_parameters(function_net()) == 31
    assert count_parameters(mlp([784, 100, 100, 100, 10])) == 99_710
    assert count_parameters(softmax_regression()) == 7_850


def test_mlp_rejects_mismatched_activations():
    with pytest.raises(ValueError, match="2 hidden layers but 1 activations"):
        mlp([4, 3, 3, 2], activation=["relu"])


@pytest.mark.parametrize(
    "scheme, expected_std",
    [
        ("normal", 0.05),
        ("he_normal", math.sqrt(2 / 400)),
        ("glorot_normal", math.sqrt(2 / 600)),
        ("glorot_uniform", math.sqrt(6 / 600) / math.sqrt(3)),
    ],
)
def test_init_schemes_have_the_documented_spread(scheme, expected_std):
    kernel = draw_kernel((200, 400), scheme, generator=torch.Generator().manual_seed(0))
    assert kernel.std().item() == pytest.approx(expected_std, rel=0.03)


def test_truncated_normals_are_cut_at_two_standard_deviations():
    kernel = draw_kernel((100, 100), "he_normal", generator=torch.Generator().manual_seed(0))
    limit = 2 * math.sqrt(2 / 100) / 0.87962566103423978
    assert kernel.abs().max().item() <= limit


def test_constant_inits_and_zero_biases():
    model = initialize(mlp([3, 4, 2]), "ones")
    assert all(
        torch.all(m.weight == 1) and torch.all(m.bias == 0)
        for m in model
        if isinstance(m, nn.Linear)
    )
    with pytest.raises(ValueError, match="unknown init scheme"):
        initialize(mlp([3, 4, 2]), "orthogonal")


def test_same_generator_state_gives_the_same_model():
    a = small_model(seed=4)
    b = small_model(seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


# -- optimizers and penalties ------------------------------------------------------------


def test_optimizers_use_keras_defaults():
    params = [nn.Parameter(torch.zeros(2))]
    rmsprop = make_optimizer("rmsprop", params)
    assert (
        rmsprop.defaults["alpha"] == 0.9
        and rmsprop.defaults["eps"] == 1e-7
        and rmsprop.defaults["lr"] == 1e-3
    )
    assert make_optimizer("SGD", params).defaults["lr"] == KERAS_DEFAULTS["sgd"]["lr"] == 1e-2
    assert make_optimizer("adam", params, lr=0.5).defaults["lr"] == 0.5
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adagrad", params)


def test_penalties_are_keras_sums_over_kernels_only():
    model = initialize(mlp([2, 2, 1]), "ones", bias=5.0)
    assert l1_penalty(model, 0.01).item() == pytest.approx(0.01 * 6)
    assert l2_penalty(model, 0.5).item() == pytest.approx(0.5 * 6)


def test_the_penalty_recorder_holds_the_penalty_after_every_evaluation():
    model, penalty = small_model(), L2Penalty(0.01)
    recorder = PenaltyRecorder(penalty)
    history = fit(
        model,
        blobs(),
        optimizer="sgd",
        lr=0.1,
        batch_size=64,
        epochs=3,
        seed=0,
        penalty=penalty,
        val=blobs(seed=1),
        callbacks=[recorder],
    )
    assert len(recorder.values) == len(history.val_loss) == 3
    assert recorder.values[-1] == float(penalty(model).detach())
    assert recorder.values[0] != recorder.values[-1]  # it follows the weights, it is not a constant


# -- the trainer -----------------------------------------------------------------------------


def test_same_seed_same_device_is_bitwise_identical_even_with_dropout_and_noise():
    runs = []
    for _ in range(2):
        model = small_model(dropout=0.3)
        history = fit(
            model,
            blobs(),
            optimizer="adam",
            batch_size=64,
            epochs=3,
            seed=7,
            val=blobs(seed=1),
            transform=AdditiveDataNoise(input_std=0.1),
            record_steps=True,
        )
        runs.append((history, [p.detach().clone() for p in model.parameters()]))
    (h1, p1), (h2, p2) = runs
    assert (
        h1.train_loss == h2.train_loss
        and h1.val_loss == h2.val_loss
        and h1.step_loss == h2.step_loss
    )
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))


def test_another_seed_gives_another_run():
    h1 = fit(small_model(), blobs(), batch_size=64, epochs=2, seed=1, record_steps=True)
    h2 = fit(small_model(), blobs(), batch_size=64, epochs=2, seed=2, record_steps=True)
    assert h1.step_loss != h2.step_loss


def test_training_leaves_the_global_rng_alone():
    model = small_model(dropout=0.5)  # building nn.Linear draws from the global RNG: do it first
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(model, blobs(), batch_size=64, epochs=1, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_history_records_every_metric_per_epoch():
    history = fit(
        small_model(),
        blobs(),
        lr=0.02,
        batch_size=100,
        epochs=4,
        seed=0,
        val=blobs(seed=1),
        evaluate_train=True,
        record_steps=True,
    )
    assert history.step == [6, 12, 18, 24] and history.epoch == [1.0, 2.0, 3.0, 4.0]
    for name in (
        "seconds",
        "train_loss",
        "train_acc",
        "train_eval_loss",
        "train_eval_acc",
        "val_loss",
        "val_acc",
    ):
        assert len(getattr(history, name)) == 4, name
    assert len(history.step_loss) == 24
    assert history.val_acc[-1] > 0.8  # the blobs are separable: training works
    assert set(history.final) >= {"train_loss", "val_acc"}


def test_running_train_loss_is_the_mean_of_the_step_losses_weighted_by_batch_size():
    history = fit(small_model(), blobs(250), batch_size=100, epochs=1, seed=0, record_steps=True)
    sizes = [100, 100, 50]
    expected = sum(loss * size for loss, size in zip(history.step_loss, sizes)) / 250
    assert history.train_loss[0] == pytest.approx(expected, rel=1e-6)


def test_steps_and_eval_every():
    history = fit(small_model(), blobs(), batch_size=50, steps=25, eval_every=10, seed=0)
    assert history.step == [10, 20, 25]


def test_full_batch_gradient_descent_solves_least_squares():
    data = linear_problem(2000, generator=torch.Generator().manual_seed(0))
    model = nn.Linear(1, 1)
    nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
    fit(model, data, optimizer="sgd", lr=0.1, batch_size=len(data), steps=300, loss_fn=F.mse_loss)
    x = torch.cat([data.inputs.double(), torch.ones(len(data), 1, dtype=torch.float64)], dim=1)
    w, b = torch.linalg.lstsq(x, data.targets.double()).solution.flatten().tolist()
    assert model.weight.item() == pytest.approx(w, abs=1e-4) and model.bias.item() == pytest.approx(
        b, abs=1e-4
    )


def test_evaluate_restores_the_mode():
    model = small_model(dropout=0.5)
    model.train()
    evaluate(model, blobs())
    assert model.training
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, TensorData(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long)))


def test_probability_targets_get_soft_cross_entropy_and_accuracy():
    data = blobs()
    soft = TensorData(data.inputs, F.one_hot(data.targets, 3).float() * 0.9 + 0.1 / 3)
    history = fit(small_model(), soft, batch_size=64, epochs=2, seed=0)
    assert history.train_acc and history.train_loss[-1] > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 1, "steps": 3}, "exactly one of epochs"),
        ({}, "exactly one of epochs"),
        ({"epochs": 1, "batch_size": 0}, "batch_size must be"),
        ({"epochs": 1, "optimizer": "sgd", "lr": -1.0}, "learning rate must be positive"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(small_model(), blobs(), **kwargs)


def test_model_on_another_device_is_refused():
    model = small_model().to(torch.float64)
    with pytest.raises(ValueError, match="not all on the data's device"):
        fit(model.to("meta"), blobs(), epochs=1)


def test_exploding_loss_is_a_clear_error():
    data = linear_problem(100, generator=torch.Generator().manual_seed(0))
    with pytest.raises(NonFiniteLossError, match=r"became (nan|inf).*lower the learning rate"):
        fit(
            nn.Linear(1, 1),
            data,
            optimizer="sgd",
            lr=10.0,
            batch_size=100,
            steps=200,
            loss_fn=F.mse_loss,
        )


def test_weight_and_learning_rate_noise_are_reproducible_and_active():
    def run(seed):
        model = nn.Linear(1, 1)
        nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
        callbacks = [
            WeightNoise(0.1, 5, torch.Generator().manual_seed(seed)),
            LearningRateNoise(0.5, torch.Generator().manual_seed(seed)),
        ]
        fit(
            model,
            linear_problem(200, generator=torch.Generator().manual_seed(0)),
            optimizer="sgd",
            lr=1e-3,
            batch_size=200,
            steps=20,
            loss_fn=F.mse_loss,
            callbacks=callbacks,
        )
        return model.weight.item(), model.bias.item()

    assert run(0) == run(0)
    assert run(0) != run(1)


@pytest.mark.parametrize("trainer", ["fit", "fit_many"])
def test_recording_steps_keeps_no_tensor_per_step(trainer):
    """``record_steps`` fills one table: the number of live tensors does not grow with the steps.

    A tensor kept per step fragmented the heap under large batches (the
    resident memory grew by megabytes a step; see ``fit``), so the count of
    tensors alive at each evaluation must not rise between evaluations.
    """
    counts = []

    class CountTensors:
        def after_evaluation(self, history, model):
            counts.append(sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects()))

    data = blobs(n=64)
    common = dict(batch_size=64, steps=200, eval_every=50, record_steps=True)
    if trainer == "fit":
        history = fit(small_model(), data, seed=0, callbacks=[CountTensors()], **common)
    else:
        (history,) = fit_many(
            [small_model()], data, seeds=[0], callbacks=[CountTensors()], **common
        )
    assert len(history.step_loss) == 200 and len(counts) == 4
    assert counts[-1] - counts[0] < 10, counts
