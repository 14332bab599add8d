"""What the parts of the plugin share: user-property keys, stash keys, the claim thread count.

Evidence travels from pytest-xdist workers to the controller in
``report.user_properties`` (which xdist serializes) under :data:`META_KEY` and
:data:`EVIDENCE_KEY`; figures travel beside it as the attribute
:data:`FIGURES_ATTRIBUTE` of the call report, so that ``--junitxml``, which
writes every user property, stays small.
"""

from __future__ import annotations

import pytest

from ..evidence import ClaimRecord, Finding

META_KEY = "dlverify.claim"
EVIDENCE_KEY = "dlverify.evidence"
# On the call phase's TestReport: the PNGs, kept out of user_properties (and so out of junit XML).
FIGURES_ATTRIBUTE = "dlverify_figures"
FIGURES = pytest.StashKey[list]()
CLAIM_RECORD = pytest.StashKey[ClaimRecord]()
FINDING = pytest.StashKey[Finding]()
# PyTorch's CPU float32 kernels give thread-count-dependent results (a skinny matmul such
# as a 10-class output layer's weight gradient is split across threads, changing the
# summation order), and training amplifies the last bits into seed-sized differences.
# Claim tests therefore compute with one intra-op thread, whatever --torch-threads says.
CLAIM_THREADS = 1
