"""dlverify: decide by measurement whether deep-learning claims hold.

Subpackages, in the order data flows through them::

    dlverify.data    -> data sets on a device (MNIST, Fashion-MNIST, CIFAR-10, generated)
    dlverify.models  -> small networks and the reports' initialization schemes
    dlverify.train   -> one trainer with a full history
    dlverify.probes  -> measurements (gradient norm, Hessian spectrum, sharpness, ...)
    dlverify.stats   -> multi-seed comparisons with a three-way verdict
    dlverify.report  -> the claims report (HTML, Markdown, JSON)

The pytest plugin, :mod:`dlverify.plugin`, acts only in a project that enables
it: ``pytest_plugins = ["dlverify.plugin"]`` in the top-level ``conftest.py``.
Importing dlverify changes no global state (no matplotlib backend, thread count
or environment variable).
"""

# The one version source: pyproject.toml reads it ([tool.setuptools.dynamic]).
__version__ = "0.1.0"
