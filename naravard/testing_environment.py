"""A pytest plugin, loaded first (`-p naravard.testing_environment` in pyproject.toml):
what the environment of a test run needs before the settings are read.

The suite runs with DEBUG off, as production does, and the settings then refuse to start
without a SECRET_KEY (naravard/settings.py). pytest-django reads the settings before
tests/conftest.py is imported, so a key for a bare `pytest` is set here: a random one per
run, unless the environment gives one. Subprocesses the tests start inherit it.
"""

import os
import secrets

if not os.environ.get("SECRET_KEY", "").strip():
    os.environ["SECRET_KEY"] = "test-run-" + secrets.token_urlsafe(40)
