"""Repository-wide test settings.

The dlverify pytest plugin itself is loaded through its ``pytest11`` entry
point (``pip install -e .``), exactly as for any user of the package.
"""

from hypothesis import HealthCheck, settings

# Property tests run torch code, whose first call is slow: no per-example deadline.
settings.register_profile("dlverify", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dlverify")
