# sdk_scenarios.py imports the official ``argilla`` SDK and runs in a subprocess; --doctest-modules must not
# import it here, where this package itself is importable as ``argilla``.
collect_ignore = ["sdk_scenarios.py"]
