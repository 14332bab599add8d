"""One trainer for every claim: data on the device, explicit randomness, full history.

Determinism: shuffling draws a permutation from a CPU ``torch.Generator``
seeded with ``seed`` and moves it to the device (so the batch order is the same
on every device); ``transform`` receives its own CPU generator; dropout and any
other use of torch's default generator run inside ``torch.random.fork_rng``
seeded with ``seed``, which leaves the caller's global RNG state as it was. The
same seed on the same device therefore gives a bitwise-identical run (with
deterministic kernels; see ``torch.use_deterministic_algorithms`` on CUDA).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.tensors import TensorData
from ..errors import NonFiniteLossError, TrainingError
from .history import History
from .optimizers import make_optimizer

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Transform = Callable[
    [torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]
]


def _is_classification(outputs: torch.Tensor) -> bool:
    return outputs.ndim == 2 and outputs.shape[1] > 1


def _correct(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    labels = targets.argmax(dim=1) if targets.is_floating_point() and targets.ndim == 2 else targets
    return (outputs.argmax(dim=1) == labels).sum()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: TensorData,
    loss_fn: LossFn = F.cross_entropy,
    *,
    batch_size: int = 10_000,
) -> tuple[float, float | None]:
    """Mean loss and accuracy (None for regression) over ``data`` in eval mode.

    The model's train/eval mode is restored afterwards. The loss is the
    batch-size-weighted mean of ``loss_fn`` over chunks of ``batch_size``.
    """
    if len(data) == 0:
        raise TrainingError("cannot evaluate on an empty data set")
    was_training = model.training
    model.eval()
    try:
        total, correct, classification = 0.0, 0, False
        for start in range(0, len(data), batch_size):
            x, y = data.inputs[start : start + batch_size], data.targets[start : start + batch_size]
            out = model(x)
            total += loss_fn(out, y).double().item() * x.shape[0]
            if _is_classification(out):
                classification = True
                correct += int(_correct(out, y))
    finally:
        model.train(was_training)
    return total / len(data), (correct / len(data) if classification else None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _call(callbacks: Sequence[object], hook: str, *args) -> None:
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)


# Not split up: fit_many (batched.py) mirrors this loop step for step, and tests/test_batched.py
# checks that mirror by exact equality; helpers on one side only would hide where the two differ.
def fit(  # noqa: C901
    model: nn.Module,
    train: TensorData,
    *,
    optimizer: str | torch.optim.Optimizer = "adam",
    lr: float | None = None,
    batch_size: int = 32,
    epochs: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    loss_fn: LossFn = F.cross_entropy,
    val: TensorData | None = None,
    penalty: Callable[[nn.Module], torch.Tensor] | None = None,
    transform: Transform | None = None,
    eval_every: int | None = None,
    evaluate_train: bool = False,
    record_steps: bool = False,
    callbacks: Sequence[object] = (),
    eval_batch_size: int = 10_000,
) -> History:
    """Train ``model`` in place on ``train`` and return its :class:`History`.

    Parameters
    ----------
    optimizer, lr:
        An optimizer name with Keras defaults (see :mod:`dlverify.train.optimizers`)
        and an optional learning rate, or a ready ``torch.optim.Optimizer``.
    batch_size:
        Mini-batch size; ``len(train)`` gives full-batch gradient descent. The
        last batch of an epoch may be smaller (as in Keras).
    epochs, steps:
        Exactly one: whole passes over the data, or optimizer steps.
    loss_fn:
        ``loss_fn(outputs, targets)`` returning the mean loss. Probability
        targets (2-D float) work with the default cross-entropy.
    penalty:
        ``penalty(model)`` added to every mini-batch loss (e.g. ``l2_penalty``).
    transform:
        ``transform(inputs, targets, generator) -> (inputs, targets)`` applied to
        each training mini-batch only (augmentation, input noise).
    eval_every:
        Evaluate every this many steps instead of once per epoch.
    evaluate_train:
        Also evaluate the whole training set in eval mode at each evaluation.
    record_steps:
        Keep every mini-batch objective in ``history.step_loss``.
    callbacks:
        Objects with any of ``before_step(step, model, optimizer)``,
        ``after_step(step, model, optimizer)``, ``after_evaluation(history, model)``.

    Raises
    ------
    NonFiniteLossError
        When the training objective becomes NaN or infinite (checked at every
        evaluation and at each recorded step), naming the step and learning rate.
    """
    if (epochs is None) == (steps is None):
        raise TrainingError("give exactly one of epochs= or steps=")
    n = len(train)
    if n == 0:
        raise TrainingError("the training set is empty")
    if batch_size < 1:
        raise TrainingError(f"batch_size must be >= 1, got {batch_size}")
    device = train.device
    params = [p for p in model.parameters() if p.requires_grad]
    if any(p.device != device for p in params):
        raise TrainingError(
            f"the model's parameters are not all on the data's device ({device}); call model.to({str(device)!r})"
        )
    opt = (
        optimizer
        if isinstance(optimizer, torch.optim.Optimizer)
        else make_optimizer(optimizer, params, lr=lr)
    )
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = steps if steps is not None else epochs * steps_per_epoch
    if total_steps < 1:
        raise TrainingError("nothing to do: zero steps")
    interval = eval_every or steps_per_epoch
    shuffle_gen = torch.Generator().manual_seed(seed)
    transform_gen = torch.Generator().manual_seed(seed + 1)
    history = History()
    # Every step's loss goes into one tensor allocated at the first step. A list of small
    # tensors, one a step, fragmented glibc's heap under large batches: each one kept alive
    # in memory a freed batch-sized buffer had used, so the next step's buffers took fresh
    # memory. Measured on 55 000 MNIST-sized images, full batch, with record_steps: the
    # resident memory grew by 2.3 MB a step (fit) and 2.7 MB (fit_many, two models), without
    # bound; ten models at once passed 9.5 GB after 17 of the 156 CPU minutes of their run.
    step_losses: torch.Tensor | None = None
    devices = [device] if device.type == "cuda" else []

    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct_sum = torch.zeros((), dtype=torch.int64, device=device)
        seen, classification = 0, False
        _sync(device)
        clock = time.perf_counter()
        order = None
        for step in range(total_steps):
            position = step % steps_per_epoch
            if position == 0:
                order = (
                    torch.randperm(n, generator=shuffle_gen).to(device) if batch_size < n else None
                )
            index = slice(position * batch_size, (position + 1) * batch_size)
            if order is None:
                x, y = train.inputs[index], train.targets[index]
            else:
                batch = order[index]
                x, y = train.inputs[batch], train.targets[batch]
            if transform is not None:
                x, y = transform(x, y, transform_gen)
            _call(callbacks, "before_step", step, model, opt)
            out = model(x)
            loss = loss_fn(out, y)
            if penalty is not None:
                loss = loss + penalty(model)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            _call(callbacks, "after_step", step, model, opt)
            detached = loss.detach()
            loss_sum += detached.double() * x.shape[0]
            if _is_classification(out):
                classification = True
                correct_sum += _correct(out.detach(), y)
            seen += x.shape[0]
            if record_steps:
                if step_losses is None:
                    step_losses = detached.new_empty(total_steps)
                step_losses[step] = detached
            done = step + 1
            if done % interval == 0 or done == total_steps:
                _sync(device)
                running = loss_sum.item() / seen
                if not math.isfinite(running):
                    raise NonFiniteLossError(
                        f"training loss became {running} by step {done} (lr={opt.param_groups[0]['lr']}); "
                        f"lower the learning rate or check the data and initialization"
                    )
                history.step.append(done)
                history.epoch.append(done / steps_per_epoch)
                history.seconds.append(time.perf_counter() - clock)
                history.train_loss.append(running)
                if classification:
                    history.train_acc.append(correct_sum.item() / seen)
                if evaluate_train:
                    tl, ta = evaluate(model, train, loss_fn, batch_size=eval_batch_size)
                    history.train_eval_loss.append(tl)
                    if ta is not None:
                        history.train_eval_acc.append(ta)
                if val is not None:
                    vl, va = evaluate(model, val, loss_fn, batch_size=eval_batch_size)
                    history.val_loss.append(vl)
                    if va is not None:
                        history.val_acc.append(va)
                _call(callbacks, "after_evaluation", history, model)
                loss_sum.zero_()
                correct_sum.zero_()
                seen = 0
                _sync(device)
                clock = time.perf_counter()
    if record_steps:
        history.step_loss = step_losses.double().cpu().tolist()
        bad = [i for i, v in enumerate(history.step_loss) if not math.isfinite(v)]
        if bad:
            raise NonFiniteLossError(f"training loss became non-finite at step {bad[0] + 1}")
    return history
