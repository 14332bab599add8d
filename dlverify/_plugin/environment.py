"""What a run depended on: versions, devices, profile, seeds, threads, determinism.

Written into the claims report's header and ``claims.json`` (each run keeps
its own), so two reports can be told apart by more than their numbers.
"""

from __future__ import annotations

import os

import pytest

from ..machine import cpu_name
from ..profiles import Profile


def environment(config: pytest.Config) -> dict:
    """What the run depended on: versions, devices, profile, seeds, determinism."""
    import platform

    import torch

    from .. import __version__

    profile = Profile.make(config.getoption("profile"), config.getoption("seeds"))
    cuda = torch.cuda.is_available()
    return {
        "dlverify": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "device_option": config.getoption("device"),
        "cuda_devices": (
            [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if cuda
            else []
        ),
        "profile": profile.name,
        "seeds": list(profile.seeds),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "xdist_workers": getattr(config.option, "numprocesses", None),
        "cpu": cpu_name(),
        "torch_threads": _threads_per_process(config),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
        "command": " ".join(["pytest", *config.invocation_params.args]),
    }


def _threads_per_process(config: pytest.Config) -> int:
    """Torch intra-op threads of each test process (what _limit_threads sets on the workers)."""
    threads = config.getoption("torch_threads", None)
    workers = getattr(config.option, "numprocesses", None)
    if threads is None and isinstance(workers, int) and workers > 0:
        threads = max(1, (os.cpu_count() or 1) // workers)
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    return threads
