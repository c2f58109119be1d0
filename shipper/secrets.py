"""Secrets of outputs and sources (passwords, keys, tokens): from a file or an environment variable,
never from the config itself and never into a log line."""
from __future__ import annotations

import os


class SecretError(ValueError):
    pass


def read_secret(file: str | None, env: str | None, what: str) -> str | None:
    """A secret from a file (first line, trimmed) or an environment variable; never logged."""
    if file:
        try:
            with open(file, encoding="utf-8") as f:
                value = f.read().strip()
        except OSError as e:
            raise SecretError(f"cannot read {what} file {file}: {e.strerror}") from None
        if not value:
            raise SecretError(f"{what} file {file} is empty")
        return value
    if env:
        value = os.environ.get(env, "").strip()
        if not value:
            raise SecretError(f"environment variable {env} ({what}) is not set")
        return value
    return None
