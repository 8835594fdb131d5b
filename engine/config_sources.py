"""Where configuration comes from, read without validating it (no pydantic).

The file (``--config`` > ``$WFCONSOLE_CONFIG`` > ``./wfconsole.toml``), the
``WFCONSOLE_<SECTION>__<KEY>`` variables and the original system's variables, merged
into one nested dict. ``engine.config`` validates that dict into ``Settings``; the plain
reads (``engine.plain_reads``) look at it first to see whether they can serve a command
without loading pydantic at all.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "wfconsole"


class ConfigError(Exception):
    """A configuration value or file is unusable; the message names the key."""


def data_dir() -> Path:
    """Where the local-first default keeps its database and queue files.

    Only computes the path: whoever creates files there goes through
    engine/security/private_files.py, which makes the directory 0700 and the files 0600.
    """
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


# The original system's environment variables, mapped onto (section, key).
LEGACY_ENV: dict[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "DATABASE_READ_URL": ("database", "read_url"),
    "REDIS_URL": ("queue", "redis_url"),
    "REDIS_PASSWORD": ("queue", "redis_password"),
    "SMTP_HOST": ("smtp", "host"),
    "SMTP_PORT": ("smtp", "port"),
    "SMTP_SECURE": ("smtp", "secure"),
    "SMTP_USER": ("smtp", "user"),
    "SMTP_PASS": ("smtp", "password"),
    "SMTP_FROM": ("smtp", "from_address"),
    "TWILIO_ACCOUNT_SID": ("twilio", "account_sid"),
    "TWILIO_AUTH_TOKEN": ("twilio", "auth_token"),
    "TWILIO_PHONE_NUMBER": ("twilio", "phone_number"),
    "SLACK_BOT_TOKEN": ("slack", "bot_token"),
    "SLACK_WEBHOOK_URL": ("slack", "webhook_url"),
    "TEAMS_WEBHOOK_URL": ("teams", "webhook_url"),
    "WORKFLOW_MAX_CONCURRENT_EXECUTIONS": ("workflow", "max_concurrent_executions"),
    "WORKFLOW_DEFAULT_TIMEOUT": ("workflow", "default_timeout"),
    "WORKFLOW_QUEUE_CONCURRENCY": ("queue", "concurrency"),
    "SENTRY_DSN": ("sentry", "dsn"),
    "LOG_LEVEL": ("logging", "level"),
    "ENCRYPTION_KEY": ("security", "encryption_key"),
}
ENV_PREFIX = "WFCONSOLE_"
CONFIG_ENV = "WFCONSOLE_CONFIG"


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read: explicit > $WFCONSOLE_CONFIG > ./wfconsole.toml > none."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    local = Path("wfconsole.toml")
    return local if local.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None


def env_overrides(
    environ: Mapping[str, str],
    sources: dict[tuple[str, str], str] | None = None,
    value_of: Callable[[str, str, str], Any] = lambda _section, _key, value: value,
) -> dict[str, dict[str, Any]]:
    """Nested overrides from WFCONSOLE_SECTION__KEY and the legacy variables.

    ``sources``, when given, is filled with (section, key) -> the variable that set it;
    ``value_of(section, key, text)`` reads a section-key variable's text (``engine.config``
    splits list-valued keys on commas).
    """
    overrides: dict[str, dict[str, Any]] = {}
    sources = {} if sources is None else sources
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and "__" in name and name != CONFIG_ENV:
            section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
            overrides.setdefault(section, {})[key] = value_of(section, key, value)
            sources[(section, key)] = name
    for name, (section, key) in LEGACY_ENV.items():
        if name in environ and environ[name] != "":
            overrides.setdefault(section, {})[key] = environ[name]
            sources[(section, key)] = name
    return overrides


def merge(base: dict[str, Any], overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
    for section, values in overrides.items():
        target = merged.setdefault(section, {})
        if isinstance(target, dict):
            target.update(values)
    return merged


def merged_data(
    config_path: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
    sources: dict[tuple[str, str], str] | None = None,
    value_of: Callable[[str, str, str], Any] = lambda _section, _key, value: value,
) -> tuple[Path | None, dict[str, Any]]:
    """The config file used (None: defaults) and its data with the environment's overrides
    merged in, not validated."""
    path = find_config_file(config_path)
    data = read_toml(path) if path else {}
    return path, merge(data, env_overrides(environ, sources, value_of))
