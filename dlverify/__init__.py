"""dlverify: decide by measurement whether deep-learning claims hold.

Subpackages, in the order data flows through them::

    dlverify.data    -> data sets on a device (MNIST, Fashion-MNIST, CIFAR-10, generated)
    dlverify.models  -> small networks and the reports' initialization schemes
    dlverify.train   -> one trainer with a full history
    dlverify.probes  -> measurements (gradient norm, Hessian spectrum, sharpness, ...)
    dlverify.stats   -> multi-seed comparisons with a three-way verdict
"""

__version__ = "0.1.0"
