"""The parts of the dlverify pytest plugin, one job each; :mod:`dlverify.plugin` registers them.

* :mod:`.options` — command-line options, their checks at startup, the session header;
* :mod:`.catalogue` — the project's source reports (its hook) and their markers;
* :mod:`.collection` — the ``claim`` marker's checks and metadata, the ``device`` parametrization;
* :mod:`.fixtures` — ``device``, ``cuda_device``, ``profile``, ``seeds``, ``claim``, ``run_cache``;
* :mod:`.deciding` — running a claim test: one thread, seed looks, the verdict, the Finding check;
* :mod:`.collector` — rows from every test report, across xdist workers, and their verdicts;
* :mod:`.environment` — what a run depended on (versions, devices, threads);
* :mod:`.writing` — the claims report written at the end of the session.

What the parts share (keys and stash keys) is in :mod:`.keys`.
"""
