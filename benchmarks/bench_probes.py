"""Time dlverify's Hessian probes against PyHessian on the same model and data.

    python benchmarks/bench_probes.py [--device cpu] [--repeats 5] [--warmup 2]

Measures, in one run, on one trained MLP and one data set:

- one Hessian-vector product: ``dlverify.probes.hvp`` (recomputes the forward
  and backward pass on every call, like every probe: it holds no graph) against
  PyHessian's ``hessian_vector_product`` on the graph it builds once for a
  single batch, and against PyHessian's data-loader path, which also
  recomputes;
- the top eigenvalue: ``dlverify.probes.top_eigenvalue`` (Lanczos, largest
  signed eigenvalue) against ``pyhessian.hessian.eigenvalues`` (power
  iteration, largest magnitude), with the eigenvalues and HVP counts.

Each timing: ``--warmup`` untimed calls, then the median of ``--repeats`` timed
calls, the compared functions called in alternation so that load changes on a
shared machine hit both alike (CUDA synchronized before reading the clock).
Ratios above 1 mean dlverify is slower.

PyHessian (Yao et al., 2020, https://github.com/amirgholami/PyHessian) is not
a dependency of dlverify. Without it the script prints how to install it and
exits with status 77, the "skipped" status of automake and meson test
harnesses: the benchmark did not run, which is neither success (0) nor a
failure of dlverify.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from dlverify.probes import hvp, top_eigenvalue

SKIPPED = 77


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    parser.add_argument("--samples", type=int, default=2000, help="rows of synthetic data")
    parser.add_argument("--features", type=int, default=100, help="input width")
    parser.add_argument("--width", type=int, default=64, help="hidden width (two hidden layers)")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice); 1 gives steadier "
                             "timings on a busy machine")
    return parser.parse_args(argv)


def problem(args, device: torch.device):
    """A teacher-labelled classification set and a student MLP trained briefly on it.

    Trained for 200 full-batch Adam steps so that the Hessian has the outlier
    eigenvalue of a trained network rather than the flat spectrum at init.
    """
    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.samples, args.features, generator=g)
    teacher = torch.randn(args.features, args.classes, generator=g)
    y = (x @ teacher + 0.5 * torch.randn(args.samples, args.classes, generator=g)).argmax(1)
    torch.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(args.features, args.width), nn.Tanh(),
                          nn.Linear(args.width, args.width), nn.Tanh(),
                          nn.Linear(args.width, args.classes)).to(device)
    x, y = x.to(device), y.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(200):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return model.eval(), x, y


def median_seconds(*fns, warmup: int, repeats: int, device: torch.device) -> list[float]:
    """Median wall time of each function, timed in alternation.

    Calls are interleaved (a, b, a, b, ...) rather than run one function after
    the other, so that load changes on a shared machine hit both sides alike.
    """
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import pyhessian
    except ImportError:
        print("benchmark skipped: PyHessian is not installed (it is not a dependency of dlverify).\n"
              "Install it to run this benchmark:  pip install pyhessian", file=sys.stderr)
        return SKIPPED
    # pyhessian/__init__.py rebinds the name ``pyhessian.hessian`` to the class of that name.
    pyhessian_hessian = sys.modules["pyhessian.hessian"]

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model, x, y = problem(args, device)
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    timing = {"warmup": args.warmup, "repeats": args.repeats, "device": device}

    # PyHessian counts: wrap the HVP function its eigenvalue loop calls (module attribute).
    counter = {"hvps": 0}
    original_hvp = pyhessian_hessian.hessian_vector_product

    def counted_hvp(*a, **k):
        counter["hvps"] += 1
        return original_hvp(*a, **k)

    pyhessian_hessian.hessian_vector_product = counted_hvp
    cuda = device.type == "cuda"
    single = pyhessian.hessian(model, F.cross_entropy, data=(x, y), cuda=cuda)
    loader = pyhessian.hessian(model, F.cross_entropy,
                               dataloader=list(zip(torch.split(x, 500), torch.split(y, 500))),
                               cuda=cuda)
    model.zero_grad(set_to_none=True)  # PyHessian leaves graph-carrying .grad fields behind

    v = torch.randn(n_params, generator=torch.Generator().manual_seed(1)).to(device)
    v_list = [piece.view_as(p) for piece, p in zip(torch.split(v, [p.numel() for p in params]), params)]
    ours_hv = hvp(model, F.cross_entropy, (x, y), v)
    theirs_hv = torch.cat([t.reshape(-1) for t in original_hvp(single.gradsH, single.params, v_list)])
    agreement = float((ours_hv - theirs_hv).abs().max() / theirs_hv.abs().max())

    t_ours_hvp, t_ph_hvp, t_ph_loader = median_seconds(
        lambda: hvp(model, F.cross_entropy, (x, y), v),
        lambda: original_hvp(single.gradsH, single.params, v_list),
        lambda: loader.dataloader_hv_product(v_list), **timing)

    ours = top_eigenvalue(model, F.cross_entropy, (x, y), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)  # PyHessian draws its start vector from the global RNG
    counter["hvps"] = 0
    theirs_values, _ = single.eigenvalues(maxIter=100, tol=1e-3)
    theirs_hvps = counter["hvps"]

    def pyhessian_eig():
        torch.manual_seed(0)
        single.eigenvalues(maxIter=100, tol=1e-3)

    t_ours_eig, t_ph_eig = median_seconds(
        lambda: top_eigenvalue(model, F.cross_entropy, (x, y),
                               generator=torch.Generator().manual_seed(0)),
        pyhessian_eig, **timing)
    torch.manual_seed(0)
    counter["hvps"] = 0
    tight_values, _ = single.eigenvalues(maxIter=1000, tol=1e-6)
    tight_hvps = counter["hvps"]
    pyhessian_hessian.hessian_vector_product = original_hvp

    print(f"dlverify probes vs PyHessian {getattr(pyhessian, '__version__', '0.1')}, "
          f"torch {torch.__version__}, {platform.machine()} {args.device}, "
          f"{torch.get_num_threads()} threads of {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}")
    print(f"model: MLP {args.features}-{args.width}-{args.width}-{args.classes} tanh, "
          f"P = {n_params} parameters, float32; data: {args.samples} rows, cross-entropy; "
          f"median of {args.repeats} after {args.warmup} warm-up")
    print(f"HVP agreement: max |dlverify - PyHessian| / max |PyHessian| = {agreement:.1e}")
    print()
    print(f"{'measurement':44s} {'dlverify':>11s} {'PyHessian':>11s} {'ratio':>7s}")
    print(f"{'one HVP vs PyHessian cached single batch':44s} {t_ours_hvp * 1e3:9.2f}ms "
          f"{t_ph_hvp * 1e3:9.2f}ms {t_ours_hvp / t_ph_hvp:7.2f}")
    print(f"{'one HVP vs PyHessian data loader (4x500)':44s} {t_ours_hvp * 1e3:9.2f}ms "
          f"{t_ph_loader * 1e3:9.2f}ms {t_ours_hvp / t_ph_loader:7.2f}")
    print(f"{'top eigenvalue (full data)':44s} {t_ours_eig * 1e3:9.1f}ms "
          f"{t_ph_eig * 1e3:9.1f}ms {t_ours_eig / t_ph_eig:7.2f}")
    print()
    print(f"top eigenvalue  dlverify (Lanczos, tol=1e-4): {ours.value:.6f}  HVPs {ours.hvps}, "
          f"converged {ours.converged}, residual {ours.residual:.1e}")
    print(f"top eigenvalue  PyHessian (power, tol=1e-3):  {theirs_values[0]:.6f}  HVPs {theirs_hvps}")
    print(f"top eigenvalue  PyHessian (power, tol=1e-6):  {tight_values[0]:.6f}  HVPs {tight_hvps} "
          "(untimed; where power iteration is heading)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
