"""Intentionally empty: the dlverify pytest plugin is :mod:`dlverify.plugin`, enabled per project.

dlverify 0.1.0 registered this module as a ``pytest11`` entry point, which loaded
the plugin into every pytest run of the environment. An install made from that
version still names this module in its metadata; keeping it empty makes such an
install inert until it is reinstalled. A project enables the plugin with one
line in its top-level ``conftest.py``::

    pytest_plugins = ["dlverify.plugin"]
"""
