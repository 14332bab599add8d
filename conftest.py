"""Repository-wide test settings.

The dlverify pytest plugin acts only in projects that ask for it; this one
does, with the same line any other project writes in its top-level conftest.py.
"""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["dlverify.plugin"]

# This suite draws figures off screen; dlverify itself never picks a matplotlib backend.
os.environ.setdefault("MPLBACKEND", "Agg")

# Property tests run torch code, whose first call is slow: no per-example deadline.
settings.register_profile("dlverify", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dlverify")
