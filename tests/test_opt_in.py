"""The plugin acts only where a project asks for it: installing dlverify changes no other project.

A project that did not opt in (no ``pytest_plugins = ["dlverify.plugin"]``)
and defines its own ``--device`` and ``--profile`` options runs as if dlverify
were not installed: its options work, torch is not imported, no environment
variable, thread count or xdist setting changes, and a broken ``DLVERIFY_DATA``
is none of its business.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
WATCHED = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG", "DLVERIFY_DATA")

OWN_OPTIONS = """
def pytest_addoption(parser):
    parser.addoption("--device", default="none", help="this project's own device option")
    parser.addoption("--profile", action="store_true", help="as pytest-profiling names it")
"""

CHECKS = """
import json, os, sys

def test_untouched(request):
    config = request.config
    assert config.getoption("device") == "gpu7" and config.getoption("profile") is True
    assert "torch" not in sys.modules, "torch was imported at startup"
    assert "dlverify.plugin" not in sys.modules
    assert not config.pluginmanager.hasplugin("dlverify.plugin")
    assert {{name: os.environ.get(name) for name in {watched!r}}} == json.loads({environment!r})
    assert config.option.dist == "load", "the xdist --dist choice was rewritten"

def test_no_dlverify_fixtures(request):
    names = request.session._fixturemanager._arg2fixturedefs
    assert not {{"claim", "seeds", "run_cache", "cuda_device"}} & set(names)
"""


def _stale_entry_point() -> list[str]:
    """``-p no:NAME`` for each dlverify ``pytest11`` entry point an older install left behind.

    Such an install names ``dlverify.pytest_plugin``, now an empty module; it is
    blocked here so that the run sees exactly what a fresh install gives.
    """
    names = [
        point.name
        for point in importlib.metadata.entry_points(group="pytest11")
        if point.value.startswith("dlverify")
    ]
    return [argument for name in names for argument in ("-p", f"no:{name}")]


def test_a_project_that_did_not_opt_in_is_untouched(pytester, monkeypatch):
    monkeypatch.setenv("DLVERIFY_DATA", str(pytester.path / "no-such-folder"))
    environment = json.dumps({name: os.environ.get(name) for name in WATCHED})
    pytester.makeconftest(OWN_OPTIONS)
    pytester.makepyfile(CHECKS.format(watched=WATCHED, environment=environment))
    result = pytester.runpytest_subprocess(
        "--device",
        "gpu7",
        "--profile",
        "--dist",
        "load",
        "-p",
        "no:cacheprovider",
        *_stale_entry_point(),
    )
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*dlverify*")


def test_the_opt_in_line_enables_it(pytester):
    pytester.makeconftest('pytest_plugins = ["dlverify.plugin"]\n')
    pytester.makepyfile("def test_seeds(seeds):\n    assert len(seeds) >= 1\n")
    result = pytester.runpytest("--seeds", "2", *_stale_entry_point())
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["dlverify: profile default, seeds 0..1*"])


def test_the_package_registers_no_pytest11_entry_point():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "pytest11" not in project.get("entry-points", {})


IMPORTS = """
import json, os, sys
import matplotlib, torch
backend, threads = matplotlib.rcParams._get("backend"), torch.get_num_threads()
environment = dict(os.environ)
import dlverify, dlverify.data, dlverify.evidence, dlverify.models, dlverify.probes, dlverify.report
import dlverify.report.figures, dlverify.runcache, dlverify.stats, dlverify.train
print(json.dumps({"backend_unchanged": matplotlib.rcParams._get("backend") == backend,
                  "pyplot": "matplotlib.pyplot" in sys.modules, "sklearn": "sklearn" in sys.modules,
                  "environment_unchanged": dict(os.environ) == environment,
                  "threads_unchanged": torch.get_num_threads() == threads}))
"""


def test_importing_dlverify_changes_no_global_state(pytester):
    """No backend switch, no pyplot or scikit-learn import, no environment or thread change."""
    result = pytester.run(sys.executable, "-c", IMPORTS)
    assert result.ret == 0, result.stderr.str()
    assert json.loads(result.stdout.lines[-1]) == {
        "backend_unchanged": True,
        "pyplot": False,
        "sklearn": False,
        "environment_unchanged": True,
        "threads_unchanged": True,
    }
