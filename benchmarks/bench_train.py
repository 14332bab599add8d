"""Time K trainings of lab2's network: fit_many against K sequential fit calls and plain PyTorch loops.

    python benchmarks/bench_train.py [--threads 1 2] [--batch-sizes 32 512] [--models 5] [--repeats 3]

The network is lab2's (784-100-100-100-10 ReLU, Glorot-uniform init, Adam
1e-3 with Keras defaults, cross-entropy) on synthetic MNIST-shaped data
(``--samples`` uniform random 28×28 images, random labels; no data files).
For each thread count and batch size, K = ``--models`` seeds are trained for
a fixed number of steps by:

- ``fit_many``: one batched run of the K models (:func:`dlverify.train.fit_many`);
- ``fit``: K sequential :func:`dlverify.train.fit` calls;
- ``plain loop``: K sequential hand-written minimal PyTorch loops (data
  tensor on the device, ``randperm`` per epoch, index, forward, backward,
  ``torch.optim.Adam`` with Keras' ε), the least a user would write;
- ``DataLoader``: K sequential loops over a ``torch.utils.data.DataLoader``
  (``TensorDataset``, ``shuffle=True``, default collation), the textbook loop.

Each timing: ``--warmup`` untimed rounds, then the median of ``--repeats``
rounds; within a round the methods run one after the other in turn, so that
load changes on a shared machine hit them alike. Reported: milliseconds per
step of all K models together, and each method's time relative to
``fit_many``. The last line gives fit_many's speedup over sequential fit.

With ``--internals`` it first times the implementation choices inside
fit_many on the same network, K models, one mini-batch: the gradient of
``Σ_k loss_k`` by K autograd passes through ``nn.Linear`` (what K ``fit``
calls do), by one autograd pass through ``torch.baddbmm`` on stacked weights,
by ``torch.func`` (``vmap`` of ``grad`` over ``functional_call``), and by
fit_many's hand-written backward; the bare batched products for reference;
and one Adam step over all parameters: ``torch.optim.Adam`` on the stacked
per-layer tensors (default and ``foreach``), fit_many's whole-buffer
operations (with the square root of the state clamped to FLT_MIN, and without),
and ATen's fused kernel, with 13 % of the gradients exactly 0 as in a real run.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from dlverify.data import TensorData
from dlverify.models import initialize, mlp
from dlverify.train import fit, fit_many
from dlverify.train._stacked import StackedMLP
from dlverify.train._stacked_loss import stacked_loss
from dlverify.train._stacked_optim import make_stacked_optimizer

SIZES = [784, 100, 100, 100, 10]
LR = 1e-3
# The share of exactly zero gradient entries in the Adam-step timings: 12.7 % of lab2's
# second-moment state is 0 after 3 epochs on 10 000 MNIST images (blank pixels, idle units).
ZERO_GRADIENTS = 0.13


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op thread counts"
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 512])
    parser.add_argument("--models", type=int, default=5, help="K, the number of seeds trained")
    parser.add_argument("--samples", type=int, default=10_000, help="synthetic training images")
    parser.add_argument(
        "--work",
        type=int,
        default=4800,
        help="images per model per round: steps = work / batch size (at least 20)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--internals",
        action="store_true",
        help="also time the forward/backward and Adam variants fit_many chose between",
    )
    return parser.parse_args(argv)


def models(k: int, device: torch.device) -> list[torch.nn.Module]:
    return [
        initialize(mlp(SIZES), "glorot_uniform", generator=torch.Generator().manual_seed(seed)).to(
            device
        )
        for seed in range(k)
    ]


def plain_loop(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int,
    steps: int,
    seed: int,
) -> None:
    """The minimal hand-written loop: shuffle, index, forward, backward, step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, eps=1e-7)
    generator = torch.Generator().manual_seed(seed)
    n, order, position = len(x), None, 0
    for _ in range(steps):
        if order is None or position >= n:
            order, position = torch.randperm(n, generator=generator).to(x.device), 0
        batch = order[position : position + batch_size]
        position += batch_size
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def loader_loop(
    model: torch.nn.Module, dataset: TensorDataset, *, batch_size: int, steps: int, seed: int
) -> None:
    """The textbook loop over a DataLoader."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, eps=1e-7)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    done = 0
    while done < steps:
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break


def methods(data: TensorData, k: int, batch_size: int, steps: int, device: torch.device) -> dict:
    dataset = TensorDataset(data.inputs, data.targets)
    seeds = list(range(k))

    def run_fit_many():
        fit_many(models(k, device), data, lr=LR, batch_size=batch_size, steps=steps, seeds=seeds)

    def run_fit():
        for seed, model in zip(seeds, models(k, device)):
            fit(model, data, lr=LR, batch_size=batch_size, steps=steps, seed=seed)

    def run_plain():
        for seed, model in zip(seeds, models(k, device)):
            plain_loop(
                model, data.inputs, data.targets, batch_size=batch_size, steps=steps, seed=seed
            )

    def run_loader():
        for seed, model in zip(seeds, models(k, device)):
            loader_loop(model, dataset, batch_size=batch_size, steps=steps, seed=seed)

    return {
        "fit_many": run_fit_many,
        "fit": run_fit,
        "plain loop": run_plain,
        "DataLoader": run_loader,
    }


def internals(data: TensorData, k: int, batch_size: int, device: torch.device) -> dict:
    """Gradient and Adam variants on one mini-batch of K models (see the module docstring)."""
    nets = models(k, device)
    linears = [[m for m in net if isinstance(m, torch.nn.Linear)] for net in nets]
    weights = [
        torch.stack([m.weight.detach() for m in layer]).requires_grad_() for layer in zip(*linears)
    ]
    biases = [
        torch.stack([m.bias.detach() for m in layer]).requires_grad_() for layer in zip(*linears)
    ]
    stacked = StackedMLP(nets)
    generator = torch.Generator().manual_seed(1)
    rows = torch.stack(
        [torch.randperm(len(data), generator=generator)[:batch_size] for _ in range(k)]
    ).to(device)
    x = data.inputs[rows]  # (K, B, 28, 28)
    y = data.targets[rows]  # (K, B)
    return {
        **autograd_gradients(nets, weights, biases, x, y),
        **stacked_gradients(stacked, data.targets, x, y),
        **adam_steps(weights, biases, stacked, device),
    }


def autograd_gradients(
    nets: list,
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
) -> dict:
    """Autograd's ways to the gradient of ``Σ_k loss_k`` (model k on ``x[k], y[k]``)."""
    from torch.func import functional_call, grad, stack_module_state, vmap

    k = len(nets)
    flat_x = x.flatten(2)

    def per_model_autograd():
        for net, xk, yk in zip(nets, x, y):
            net.zero_grad(set_to_none=True)
            F.cross_entropy(net(xk), yk).backward()

    def stacked_autograd():
        h = flat_x
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            if i < len(weights) - 1:
                h = torch.relu(h)
        losses = F.cross_entropy(h.flatten(0, 1), y.flatten(), reduction="none").view(k, -1).mean(1)
        torch.autograd.grad(losses.sum(), weights + biases)

    params, buffers = stack_module_state(nets)
    skeleton = copy.deepcopy(nets[0]).to("meta")

    def one_loss(p, b, xk, yk):
        return F.cross_entropy(functional_call(skeleton, (p, b), (xk,)), yk)

    batched_grad = vmap(grad(one_loss))

    def func_vmap():
        batched_grad(params, buffers, x, y)

    return {
        "gradient: K x autograd through nn.Linear (fit)": per_model_autograd,
        "gradient: autograd through torch.baddbmm": stacked_autograd,
        "gradient: torch.func vmap(grad(functional_call))": func_vmap,
    }


def stacked_gradients(
    stacked: StackedMLP, targets: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> dict:
    """fit_many's hand-written gradient of ``Σ_k loss_k``, and its batched products alone."""
    loss_and_grad = stacked_loss(F.cross_entropy, targets)

    def hand_written():
        out, saved = stacked.forward(x)
        stacked.backward(loss_and_grad(out, y)[1], saved)

    def products_only():
        h, hs = x.flatten(2), []
        for w in stacked.weights:
            hs.append(h)
            h = torch.bmm(h, w.transpose(1, 2))
        g = h
        for i in range(len(stacked.weights) - 1, -1, -1):
            torch.bmm(g.transpose(1, 2), hs[i])
            if i:
                g = torch.bmm(g, stacked.weights[i])

    return {
        "gradient: hand-written backward (fit_many)": hand_written,
        "gradient: the batched products alone": products_only,
    }


def adam_steps(
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    stacked: StackedMLP,
    device: torch.device,
) -> dict:
    """Ways to take one Adam step over all parameters of the K models.

    The gradients are N(0, 10⁻⁶) with :data:`ZERO_GRADIENTS` of them exactly 0,
    so that the second-moment state has the zeros a real run's has.
    """
    k = weights[0].shape[0]
    generator = torch.Generator(device).manual_seed(2)

    def gradient_like(t: torch.Tensor) -> torch.Tensor:
        g = torch.empty_like(t).normal_(0, 1e-3, generator=generator)
        keep = torch.empty_like(t).uniform_(generator=generator) >= ZERO_GRADIENTS
        return g * keep

    layer_params = [
        t.detach().clone().requires_grad_() for pair in zip(weights, biases) for t in pair
    ]
    for t in layer_params:
        t.grad = gradient_like(t)
    torch_adam = torch.optim.Adam(layer_params, lr=LR, eps=1e-7)
    torch_adam_foreach = torch.optim.Adam(layer_params, lr=LR, eps=1e-7, foreach=True)
    stacked.grad.copy_(gradient_like(stacked.grad))
    exact = make_stacked_optimizer("adam", stacked.params, stacked.grad, [LR] * k, fused=False)
    unclamped = make_stacked_optimizer("adam", stacked.params, stacked.grad, [LR] * k)
    unclamped._clamp = False  # the root of the state itself, as torch.optim.Adam takes it
    fused = make_stacked_optimizer("adam", stacked.params, stacked.grad, [LR] * k, fused=True)
    return {
        f"Adam step, {k * stacked.num_parameters} parameters: torch.optim.Adam": torch_adam.step,
        "Adam step: torch.optim.Adam(foreach=True)": torch_adam_foreach.step,
        "Adam step: whole-buffer operations (fit_many's default)": exact.step,
        "Adam step: the same, root of the unclamped state": unclamped.step,
        "Adam step: ATen fused kernel (fused_adam=True)": fused.step,
    }


def median_seconds(
    fns: dict, *, warmup: int, repeats: int, device: torch.device
) -> dict[str, float]:
    """Median wall time of each function over ``repeats`` rounds, the functions run in turn within a round."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    data = TensorData(
        torch.rand(args.samples, 28, 28, generator=generator),
        torch.randint(0, 10, (args.samples,), generator=generator),
    ).to(device)
    print(
        f"fit_many vs sequential training, torch {torch.__version__}, {platform.machine()} {platform.processor() or ''}"
        f" {args.device}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}"
    )
    print(
        f"network {'-'.join(map(str, SIZES))} ReLU, Adam lr={LR}; K={args.models} models; {args.samples} synthetic "
        f"28x28 images; median of {args.repeats} rounds after {args.warmup} warm-up"
    )
    print()
    if args.internals:
        print(
            f"{'threads':>7s} {'batch':>6s}  {'fit_many internals, K=' + str(args.models):56s} {'ms':>8s}"
        )
        for threads in args.threads:
            torch.set_num_threads(threads)
            for batch_size in args.batch_sizes:
                fns = internals(data, args.models, batch_size, device)
                repeat = max(5, 3000 // batch_size)
                seconds = median_seconds(
                    {
                        name: (lambda fn=fn, repeat=repeat: [fn() for _ in range(repeat)])
                        for name, fn in fns.items()
                    },
                    warmup=args.warmup,
                    repeats=max(args.repeats, 5),
                    device=device,
                )
                for name, value in seconds.items():
                    print(f"{threads:7d} {batch_size:6d}  {name:56s} {value / repeat * 1e3:8.3f}")
        print()
    header = (
        f"{'threads':>7s} {'batch':>6s} {'steps':>6s}  {'method':12s} "
        f"{'ms/step (K models)':>19s} {'vs fit_many':>12s}"
    )
    print(header)
    speedups: dict[int, list[str]] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch_size in args.batch_sizes:
            steps = max(20, args.work // batch_size)
            fns = methods(data, args.models, batch_size, steps, device)
            seconds = median_seconds(fns, warmup=args.warmup, repeats=args.repeats, device=device)
            base = seconds["fit_many"]
            for name, value in seconds.items():
                print(
                    f"{threads:7d} {batch_size:6d} {steps:6d}  {name:12s} {value / steps * 1e3:19.2f} "
                    f"{value / base:11.2f}x"
                )
            speedups.setdefault(batch_size, []).append(
                f"{seconds['fit'] / base:.2f}x ({threads} thread{'s' if threads > 1 else ''})"
            )
    print()
    print(
        "fit_many speedup over sequential fit: "
        + "; ".join(
            f"batch {batch_size}: {', '.join(values)}" for batch_size, values in speedups.items()
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
