"""Train K small networks of one architecture at once: :func:`fit_many`.

Many claims train the same MLP from several seeds (or with several learning
rates, penalties or noisy copies of the data). :func:`dlverify.train.fit`
trains one model per call, and for these small networks most of a step is
per-call overhead (Python, autograd bookkeeping, one optimizer kernel per
parameter tensor), not arithmetic. ``fit_many`` runs K such trainings as one
computation and returns what K ``fit`` calls would (same seeds, same data
order, same dropout masks on the CPU, same optimizer equations, same
History), within float32 rounding.

How: the K parameter sets are rows of one ``(K, P)`` tensor
(:class:`._stacked.StackedMLP`); each step gathers the K models' mini-batches
``(K, B, ...)`` with one ``index_select``, runs every Linear layer as one
batched product (``torch.baddbmm``), computes each model's mean loss and its
gradient with respect to the outputs (:mod:`._stacked_loss`), back-propagates
by hand with the kernels autograd would call, and updates all rows with
ATen's fused Adam kernel or a few whole-buffer operations
(:mod:`._stacked_optim`). The loss whose gradient is taken is ``Σ_k loss_k``;
the models share no parameter, so row ``k`` of its gradient is model ``k``'s
own. Large intermediates live in reused workspace buffers.

Why this formulation, measured with ``python benchmarks/bench_train.py
--internals`` (lab2's 784-100-100-100-10 ReLU network, K = 5, one mini-batch,
one thread of a quiet 2-core Intel Xeon VM with AVX-512, torch 2.13 CPU; one run, medians):

=====================================================  ========  =========
gradient of Σ_k loss_k, K = 5                          batch 32  batch 512
=====================================================  ========  =========
K autograd passes through ``nn.Linear`` (as K fits)     1.72 ms   10.0 ms
one autograd pass through ``torch.baddbmm``             0.97 ms    9.3 ms
``torch.func``: ``vmap(grad(functional_call))``         1.93 ms   10.4 ms
hand-written backward through ``torch.baddbmm`` (used)  0.80 ms    8.2 ms
the batched matrix products alone (the floor)           0.57 ms    6.6 ms
=====================================================  ========  =========

One Adam step over the five models' 498 550 parameters (13 % of the
gradients exactly 0, as in a real run): ``torch.optim.Adam`` on the stacked
per-layer tensors 1.96 ms (``foreach=True``: 1.93 ms), torch's
single-tensor equations as whole-buffer operations 0.95 ms
(``fused_adam=False``, the default; ATen's ``sqrt`` is slow on zeros and
subnormals on this CPU, so the root is taken of the state clamped to
FLT_MIN, which changes no result: 1.15 ms without), ATen's fused Adam kernel
0.33 ms (``fused_adam=True``, off by default because it rounds differently
from ``torch.optim.Adam``, see :func:`fit_many`). ``torch.compile`` of the
step was tried and was not faster (the products are MKL calls either way;
compiling took 30 s), so it is not used.

Determinism and equality with ``fit``: model ``k`` uses ``seeds[k]`` as
``fit(seed=seeds[k])`` would: a CPU generator for the per-epoch permutations,
one seeded ``seed + 1`` for the transform, and one for its dropout masks
(:class:`._stacked.DropoutMasks`: the same masks as ``fit`` on the CPU, the
same distribution on CUDA). The global RNG is left as it was. The remaining
differences from ``fit`` are rounding: batched GEMMs may sum in another order
than per-model ones for some shapes, the fused Adam kernel rounds a few
updates differently in the last bit, and per-model training losses are
reduced in one batched reduction (tests/test_batched.py bounds the effect:
rtol 1e-5, atol 1e-6 after tens of steps; observed below 1e-6).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.tensors import TensorData
from ..errors import NonFiniteLossError, TrainingError, TrainingTypeError
from ._stacked import DropoutMasks, StackedMLP
from ._stacked_data import StackedTrainingData
from ._stacked_loss import stacked_loss
from ._stacked_optim import make_stacked_optimizer
from ._stacked_penalty import KernelPenalty, StackedPenalty
from .history import History
from .loop import LossFn, Transform
from .regularizers import L1Penalty, L2Penalty


def _per_model(value, k: int, name: str, is_one: Callable[[object], bool]) -> list:
    """``value`` for every model: one value repeated, or a sequence of exactly ``k``."""
    if is_one(value):
        return [value] * k
    values = list(value)
    if len(values) != k:
        raise TrainingError(f"{name}: got {len(values)} values for {k} models")
    return values


def _is_sequence(value) -> bool:
    return isinstance(value, (list, tuple))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _check_penalty(penalty, index: int) -> KernelPenalty | None:
    if penalty is None or isinstance(penalty, (L1Penalty, L2Penalty)):
        return penalty
    raise TrainingTypeError(
        f"fit_many applies penalties to stacked weights, so it takes L1Penalty/L2Penalty "
        f"(dlverify.train.regularizers), not a plain callable (penalty {index}: {penalty!r}); "
        f"use fit for an arbitrary penalty(model)"
    )


def _callbacks_per_model(callbacks, k: int) -> list[list[object]]:
    callbacks = list(callbacks)
    if len(callbacks) == k and k > 0 and all(_is_sequence(c) for c in callbacks):
        per_model = [list(c) for c in callbacks]
    else:
        per_model = [callbacks] * k
    for model_callbacks in per_model:
        for callback in model_callbacks:
            for hook in ("before_step", "after_step"):
                if hasattr(callback, hook):
                    raise TrainingTypeError(
                        f"fit_many supports only after_evaluation callbacks, and {callback!r} has "
                        f"{hook}: the K models are updated together, never one by one; use fit"
                    )
    return per_model


@torch.no_grad()
def _evaluate_many(
    net: StackedMLP,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    shared: bool,
    loss_fn: LossFn,
    batch_size: int,
) -> tuple[list[float], list[float] | None]:
    """Each model's :func:`dlverify.train.evaluate` on its data (eval mode), with the same chunks and sums.

    ``inputs``/``targets`` are ``(N, ...)`` when ``shared``, else ``(K, N, ...)``.
    ``loss_fn`` is called per model and chunk, so the values are ``evaluate``'s.
    """
    n = inputs.shape[0] if shared else inputs.shape[1]
    if n == 0:
        raise TrainingError("cannot evaluate on an empty data set")
    k = net.k
    totals = torch.zeros(k, dtype=torch.float64, device=net.device)
    correct = torch.zeros(k, dtype=torch.int64, device=net.device)
    classification = False
    for start in range(0, n, batch_size):
        if shared:
            x = inputs[start : start + batch_size]
            y = targets[start : start + batch_size]
            out = net.predict(x.unsqueeze(0).expand(k, *x.shape))
            ys = [y] * k
        else:
            x, y = inputs[:, start : start + batch_size], targets[:, start : start + batch_size]
            out = net.predict(x)
            ys = list(y)
        count = out.shape[1]
        totals += torch.stack([loss_fn(out[i], ys[i]) for i in range(k)]).double() * count
        if out.ndim == 3 and out.shape[2] > 1:
            classification = True
            labels = torch.stack(
                [y.argmax(dim=1) if y.is_floating_point() and y.ndim == 2 else y for y in ys]
            )
            correct += (out.argmax(dim=2) == labels).sum(dim=1)
    losses = [total / n for total in totals.tolist()]
    return losses, ([c / n for c in correct.tolist()] if classification else None)


# Not split up: fit_many mirrors fit's loop step for step, and tests/test_batched.py checks
# that mirror by exact equality; helpers on one side only would hide where the two differ.
def fit_many(  # noqa: C901
    models: Sequence[nn.Module],
    train: TensorData | Sequence[TensorData],
    *,
    optimizer: str = "adam",
    lr: float | Sequence[float] | None = None,
    batch_size: int = 32,
    epochs: int | None = None,
    steps: int | None = None,
    seeds: Sequence[int],
    loss_fn: LossFn = F.cross_entropy,
    val: TensorData | None = None,
    penalty: KernelPenalty | None | Sequence[KernelPenalty | None] = None,
    transform: Transform | None | Sequence[Transform | None] = None,
    eval_every: int | None = None,
    evaluate_train: bool = False,
    record_steps: bool = False,
    callbacks: Sequence[object] | Sequence[Sequence[object]] = (),
    eval_batch_size: int = 10_000,
    fused_adam: bool = False,
) -> list[History]:
    """Train each of ``models`` in place as ``fit(models[k], ..., seed=seeds[k])`` would; one History per model.

    The models must share one MLP architecture (``nn.Sequential`` of
    ``Flatten``, ``Linear``, ``ReLU``, ``Sigmoid``, ``Tanh``, ``Identity``,
    ``Dropout``; dropout rates may differ) and sit on the data's device (CPU
    or CUDA). Everything not listed below means what it means for
    :func:`dlverify.train.fit`. Each model's results equal its own ``fit``
    run up to float32 rounding; on CUDA the dropout masks are drawn from a
    per-model CUDA generator, so with dropout the results there equal ``fit``'s
    in distribution only (``F.dropout``'s fused CUDA kernel cannot be replayed).

    Parameters
    ----------
    train:
        One :class:`TensorData` for all models, or one per model (same length
        and shapes, e.g. noisy copies per seed).
    optimizer, lr:
        An optimizer name (``sgd``, ``adam``, ``rmsprop``, Keras defaults) and
        one learning rate, or one per model (None: the Keras default).
    seeds:
        One seed per model (data order, transform generator, dropout masks).
    penalty:
        An :class:`L1Penalty`/:class:`L2Penalty` for all models, or one (or
        None) per model. A plain ``penalty(model)`` callable is refused: it
        cannot be applied to stacked weights.
    transform:
        One ``transform(inputs, targets, generator)`` for all models, or one (or
        None) per model; called once per model and step with that model's
        generator. It must draw from that generator only.
    callbacks:
        Objects with ``after_evaluation(history, model)``, called for every
        model with its own History and its current parameters copied into it
        (copied back afterwards, so a callback may change them); or one such
        sequence per model (a list of K lists). ``before_step``/``after_step``
        callbacks are refused: use fit.
    fused_adam:
        Adam only: update with ATen's fused Adam kernel (one pass over memory,
        about 0.6 ms a step faster on the lab2 network at K = 5; the same
        equations, rounded differently in the last bit for a few parameters
        per step). Off by default: without it the update is ``torch.optim.Adam``'s
        own sequence of operations, each exactly rounded, so a model's run is
        ``fit``'s wherever the batched products are; with it the last-bit
        differences grow as training goes on (measured on lab2's network and
        10 000 MNIST images, 20 epochs: one seed's validation loss 0.235
        against 0.211 unfused, the others within 0.002). Either way each
        model's result is bitwise the same whatever its companions, on one
        thread.

    Returns
    -------
    list[History]
        One per model, as ``fit`` returns; ``seconds`` is the wall time of the
        whole batched step range (the same for every model).

    Raises
    ------
    NonFiniteLossError
        When a model's training objective becomes NaN or infinite (checked at
        every evaluation), naming the model, its seed, the step and its
        learning rate. The models keep the parameters they had reached.
    """
    models = list(models)
    k = len(models)
    if k == 0:
        raise TrainingError("fit_many needs at least one model")
    if len({id(m) for m in models}) != k:
        raise TrainingError("fit_many trains each model in place: pass K distinct model objects")
    seeds = [int(s) for s in seeds]
    if len(seeds) != k:
        raise TrainingError(f"seeds: got {len(seeds)} seeds for {k} models (one seed per model)")
    if (epochs is None) == (steps is None):
        raise TrainingError("give exactly one of epochs= or steps=")
    if not isinstance(optimizer, str):
        raise TrainingTypeError(
            "fit_many takes an optimizer name ('sgd', 'adam', 'rmsprop'), not an optimizer object; "
            "use fit with a ready optimizer"
        )
    if batch_size < 1:
        raise TrainingError(f"batch_size must be >= 1, got {batch_size}")
    data = StackedTrainingData(train, k)
    n, device = data.n, data.device
    if n == 0:
        raise TrainingError("the training set is empty")
    net = StackedMLP(models)
    if net.device != device:
        raise TrainingError(
            f"the models' parameters are not on the data's device ({device}); call model.to({str(device)!r})"
        )
    lrs = _per_model(lr, k, "lr", lambda v: v is None or isinstance(v, (int, float)))
    opt = make_stacked_optimizer(optimizer, net.params, net.grad, lrs, fused=fused_adam)
    penalties = [
        _check_penalty(p, i)
        for i, p in enumerate(_per_model(penalty, k, "penalty", lambda v: not _is_sequence(v)))
    ]
    stacked_penalty = StackedPenalty(penalties, net)
    transforms = _per_model(transform, k, "transform", lambda v: not _is_sequence(v))
    use_transform = any(t is not None for t in transforms)
    per_model_callbacks = _callbacks_per_model(callbacks, k)
    any_callbacks = any(per_model_callbacks)
    loss_and_grad = stacked_loss(loss_fn, data.all_targets())

    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = steps if steps is not None else epochs * steps_per_epoch
    if total_steps < 1:
        raise TrainingError("nothing to do: zero steps")
    interval = eval_every or steps_per_epoch
    shufflers = [torch.Generator().manual_seed(s) for s in seeds]
    transform_generators = [torch.Generator().manual_seed(s + 1) for s in seeds]
    dropout = DropoutMasks(net.dropout_rates, seeds, device)
    histories = [History() for _ in models]
    step_losses: torch.Tensor | None = None  # (steps, K), one tensor: why, in fit
    devices = [device] if device.type == "cuda" else []

    for model in models:
        model.train()
    try:
        with torch.random.fork_rng(devices=devices):
            loss_sum = torch.zeros(k, dtype=torch.float64, device=device)
            correct_sum = torch.zeros(k, dtype=torch.int64, device=device)
            seen, classification = 0, False
            _sync(device)
            clock = time.perf_counter()
            rows = None
            whole = data.whole() if batch_size >= n else None
            for step in range(total_steps):
                position = step % steps_per_epoch
                if whole is not None:
                    x, y = whole
                else:
                    if position == 0:
                        orders = torch.stack(
                            [torch.randperm(n, generator=g) for g in shufflers]
                        ).to(device)
                        rows = data.rows(orders)
                    x, y = data.gather(rows[:, position * batch_size : (position + 1) * batch_size])
                if use_transform:
                    pairs = [
                        (x[i], y[i]) if t is None else t(x[i], y[i], transform_generators[i])
                        for i, t in enumerate(transforms)
                    ]
                    x = torch.stack([p[0] for p in pairs])
                    y = torch.stack([p[1] for p in pairs])
                out, saved = net.forward(x, dropout if dropout.active else None)
                losses, grad_out = loss_and_grad(out, y)
                if stacked_penalty.active:
                    losses = losses + stacked_penalty.value()
                net.backward(grad_out, saved)
                if stacked_penalty.active:
                    stacked_penalty.add_gradient()
                opt.step()
                batch = out.shape[1]
                loss_sum.add_(
                    losses, alpha=batch
                )  # fit's += loss.double() * B: the product is exact in float64
                if out.ndim == 3 and out.shape[2] > 1:
                    classification = True
                    labels = y.argmax(dim=2) if y.is_floating_point() and y.ndim == 3 else y
                    correct_sum += (out.argmax(dim=2) == labels).sum(dim=1)
                seen += batch
                if record_steps:
                    if step_losses is None:
                        step_losses = losses.new_empty(total_steps, k)
                    step_losses[step] = losses
                done = step + 1
                if done % interval == 0 or done == total_steps:
                    _sync(device)
                    running = [total / seen for total in loss_sum.tolist()]
                    for i, value in enumerate(running):
                        if not math.isfinite(value):
                            raise NonFiniteLossError(
                                f"model {i} (seed {seeds[i]}): training loss became {value} by step {done} "
                                f"(lr={opt.lrs[i]}); lower the learning rate or check the data and initialization"
                            )
                    seconds = time.perf_counter() - clock
                    accuracy = [c / seen for c in correct_sum.tolist()] if classification else None
                    for i, history in enumerate(histories):
                        history.step.append(done)
                        history.epoch.append(done / steps_per_epoch)
                        history.seconds.append(seconds)
                        history.train_loss.append(running[i])
                        if accuracy is not None:
                            history.train_acc.append(accuracy[i])
                    if evaluate_train:
                        inputs, targets = (data.inputs, data.targets)
                        tl, ta = _evaluate_many(
                            net,
                            inputs,
                            targets,
                            shared=data.shared,
                            loss_fn=loss_fn,
                            batch_size=eval_batch_size,
                        )
                        for i, history in enumerate(histories):
                            history.train_eval_loss.append(tl[i])
                            if ta is not None:
                                history.train_eval_acc.append(ta[i])
                    if val is not None:
                        vl, va = _evaluate_many(
                            net,
                            val.inputs,
                            val.targets,
                            shared=True,
                            loss_fn=loss_fn,
                            batch_size=eval_batch_size,
                        )
                        for i, history in enumerate(histories):
                            history.val_loss.append(vl[i])
                            if va is not None:
                                history.val_acc.append(va[i])
                    if any_callbacks:
                        for i, (model, history) in enumerate(zip(models, histories)):
                            if per_model_callbacks[i]:
                                net.store_to_models([i])
                                for callback in per_model_callbacks[i]:
                                    method = getattr(callback, "after_evaluation", None)
                                    if method is not None:
                                        method(history, model)
                                net.load_from_models([i])
                    loss_sum.zero_()
                    correct_sum.zero_()
                    seen = 0
                    _sync(device)
                    clock = time.perf_counter()
    finally:
        net.store_to_models()
    if record_steps:
        table = step_losses.double().cpu().t().tolist()
        for i, (history, values) in enumerate(zip(histories, table)):
            history.step_loss = values
            bad = [j for j, v in enumerate(values) if not math.isfinite(v)]
            if bad:
                raise NonFiniteLossError(
                    f"model {i} (seed {seeds[i]}): training loss became non-finite at step "
                    f"{bad[0] + 1}"
                )
    return histories
