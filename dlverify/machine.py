"""Which processor computed a run: the part of a run's identity that its spec cannot say.

Two machines with the same torch compute the same float32 run in different
roundings when their kernels differ: ATen picks its vectorized CPU kernels by
the instruction set it finds (``torch.backends.cpu.get_cpu_capability()``:
``"AVX2"``, ``"AVX512"``, ...), and MKL, torch's CPU matrix product on x86,
picks its kernels by the processor's vendor and instruction set. A sum of the
same products in another order rounds differently (Goldberg, "What every
computer scientist should know about floating-point arithmetic", ACM
Computing Surveys 23(1), 1991), and training carries the last bits on.
Measured on a 2-core Intel Xeon (AVX-512), torch 2.13.0+cpu, one thread: 200
Adam steps of a 784-100-100-10 ReLU network at batch 512 end in four different
weight vectors with MKL's and ATen's kernels each at AVX-512 or at AVX2
(``MKL_ENABLE_INSTRUCTIONS=AVX2``, ``ATEN_CPU_CAPABILITY=avx2``). So a run
trained on one processor is not bitwise the run of another, and a run cache
shared between machines (a home folder on a network drive, a CI cache
restored on another runner) must not hand one machine's run to the other:
:func:`processor_identity` is part of every
:class:`~dlverify.runcache.RunCache` key.

What it holds is what a process can tell about its kernels without running
any: the CPU's model name, ATen's capability, and the environment variables
that change MKL's or oneDNN's choice (:data:`KERNEL_SETTINGS`, when set). Two
hosts that agree on all of them and still round differently (a hypervisor
that hides an instruction set from MKL alone) would share entries; the
report's environment names the CPU (:func:`cpu_name`), so such a case can be
seen there.
"""

from __future__ import annotations

import os
import platform

#: Environment variables that change which CPU kernels MKL or oneDNN run (and so the rounding).
KERNEL_SETTINGS = (
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_CBWR",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
)


def cpu_name() -> str:
    """The CPU model (``model name`` in ``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def processor_identity(device_type: str) -> dict[str, str]:
    """What picks the kernels of a run on ``device_type`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Always the CPU, by model and ATen's capability, and the
    :data:`KERNEL_SETTINGS` that are set: even a CUDA run draws its
    permutations and noise and prepares its data on the CPU. For a CUDA run,
    also the GPU it runs on, by name and compute capability
    (``torch.cuda.current_device()`` for a bare ``"cuda"``: the device the run
    is placed on).
    """
    import torch  # here, not at the top: the pytest plugin imports cpu_name without torch

    identity = {"cpu": cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    identity.update({name: os.environ[name] for name in KERNEL_SETTINGS if name in os.environ})
    device = torch.device(device_type)
    if device.type == "cuda" and torch.cuda.is_available():
        index = torch.cuda.current_device() if device.index is None else device.index
        major, minor = torch.cuda.get_device_capability(index)
        identity["cuda"] = f"{torch.cuda.get_device_name(index)} (sm_{major}{minor})"
    return identity
