pytest_plugins = ["dagster_labeling.testing.pytest_plugin"]
