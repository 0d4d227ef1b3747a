import os

from hypothesis import settings

# The suite replays the same property-test examples on every run, so CI never fails by chance;
# MFT_HYPOTHESIS=explore draws new ones on each run, to hunt for bugs.
settings.register_profile("suite", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("MFT_HYPOTHESIS", "suite"))


def pytest_configure(config):
    config.addinivalue_line("markers", "distributed: starts DeepSpeed ranks through the launcher (slow)")
