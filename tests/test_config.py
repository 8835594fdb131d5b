"""Configuration: the contract's defaults, where settings come from, and one-line errors."""

from __future__ import annotations

import os
import tomllib
from operator import attrgetter
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from engine.config import LEGACY_ENV, ConfigError, Settings, load_settings
from engine.db import create_db_engine, normalize_url

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config.example.toml"

# The environment variables DESIGN.md promises, in its order.
CONTRACT_ENV = [
    "DATABASE_URL", "DATABASE_READ_URL", "REDIS_URL", "REDIS_PASSWORD", "SMTP_HOST",
    "SMTP_PORT", "SMTP_SECURE", "SMTP_USER", "SMTP_PASS", "SMTP_FROM", "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN", "TWILIO_PHONE_NUMBER", "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL",
    "TEAMS_WEBHOOK_URL", "WORKFLOW_MAX_CONCURRENT_EXECUTIONS", "WORKFLOW_DEFAULT_TIMEOUT",
    "WORKFLOW_QUEUE_CONCURRENCY", "SENTRY_DSN", "LOG_LEVEL", "ENCRYPTION_KEY",
]  # fmt: skip

# variable -> (value to set, value the setting must then have)
LEGACY_SAMPLES: dict[str, tuple[str, Any]] = {
    "DATABASE_URL": ("postgresql://user:pass@host:5432/db", "postgresql://user:pass@host:5432/db"),
    "DATABASE_READ_URL": ("postgresql://ro:pw@replica/db", "postgresql://ro:pw@replica/db"),
    "REDIS_URL": ("redis://127.0.0.1:6379/1", "redis://127.0.0.1:6379/1"),
    "REDIS_PASSWORD": ("redis-pw", "redis-pw"),
    "SMTP_HOST": ("smtp.example.com", "smtp.example.com"),
    "SMTP_PORT": ("2525", 2525),
    "SMTP_SECURE": ("true", True),
    "SMTP_USER": ("mailer", "mailer"),
    "SMTP_PASS": ("smtp-pw", "smtp-pw"),
    "SMTP_FROM": ("wf@example.com", "wf@example.com"),
    "TWILIO_ACCOUNT_SID": ("AC0123", "AC0123"),
    "TWILIO_AUTH_TOKEN": ("twilio-pw", "twilio-pw"),
    "TWILIO_PHONE_NUMBER": ("+15550100", "+15550100"),
    "SLACK_BOT_TOKEN": ("xoxb-1", "xoxb-1"),
    "SLACK_WEBHOOK_URL": ("https://hooks.slack.com/x", "https://hooks.slack.com/x"),
    "TEAMS_WEBHOOK_URL": ("https://teams.example.com/x", "https://teams.example.com/x"),
    "WORKFLOW_MAX_CONCURRENT_EXECUTIONS": ("20", 20),
    "WORKFLOW_DEFAULT_TIMEOUT": ("120", 120),
    "WORKFLOW_QUEUE_CONCURRENCY": ("8", 8),
    "SENTRY_DSN": ("https://key@sentry.example.com/1", "https://key@sentry.example.com/1"),
    "LOG_LEVEL": ("debug", "DEBUG"),
    "ENCRYPTION_KEY": ("fernet-key", "fernet-key"),
}

CONTRACT_DEFAULTS = [
    ("workflow.max_concurrent_executions", 10),
    ("workflow.default_timeout", 300),
    ("workflow.default_max_retries", 3),
    ("workflow.default_retry_delay", 60),
    ("queue.concurrency", 5),
    ("retention.executions_days", 30),
    ("retention.logs_days", 90),
    ("cache.enabled", True),
    ("cache.ttl", 3600),
    ("workflow.webhook_timeout", 30),
    ("workflow.webhook_max_retries", 3),
    ("security.rate_limit_per_minute", 60),
    ("security.allow_private_targets", False),
    ("queue.embedded_worker", True),
    ("queue.sweep_interval", 10),
    ("logging.level", "INFO"),
]


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def setting(settings: Settings, section: str, key: str) -> Any:
    return plain(getattr(getattr(settings, section), key))


# --- defaults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"), CONTRACT_DEFAULTS, ids=[k for k, _ in CONTRACT_DEFAULTS]
)
def test_default_follows_the_contract(key: str, expected: Any) -> None:
    assert attrgetter(key)(Settings()) == expected


def test_without_any_file_the_defaults_apply() -> None:
    settings = load_settings()

    assert settings.source == "defaults"
    assert settings.model_dump() == Settings().model_dump()


def test_default_database_and_queue_live_in_the_user_data_directory() -> None:
    data_home = Path(os.environ["XDG_DATA_HOME"])

    settings = load_settings()

    assert settings.database_url == f"sqlite:///{data_home / 'wfconsole' / 'wfconsole.db'}"
    assert settings.queue_path == data_home / "wfconsole" / "queue.db"
    assert not settings.uses_redis


# --- where the file comes from ----------------------------------------------------------


def test_local_wfconsole_toml_is_read_from_the_working_directory(tmp_path: Path) -> None:
    write_config(tmp_path / "wfconsole.toml", "[queue]\nconcurrency = 7\n")

    settings = load_settings()

    assert settings.queue.concurrency == 7
    assert settings.source == "wfconsole.toml"


def test_config_env_variable_beats_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path / "wfconsole.toml", "[queue]\nconcurrency = 7\n")
    from_env = write_config(tmp_path / "env.toml", "[queue]\nconcurrency = 9\n")
    monkeypatch.setenv("WFCONSOLE_CONFIG", str(from_env))

    assert load_settings().queue.concurrency == 9


def test_explicit_config_beats_config_env_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path / "wfconsole.toml", "[queue]\nconcurrency = 7\n")
    monkeypatch.setenv("WFCONSOLE_CONFIG", str(write_config(tmp_path / "env.toml", "")))
    explicit = write_config(tmp_path / "explicit.toml", "[queue]\nconcurrency = 11\n")

    settings = load_settings(explicit)

    assert settings.queue.concurrency == 11
    assert settings.source == str(explicit)


def test_file_keeps_defaults_for_keys_it_leaves_out(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "c.toml", "[queue]\nconcurrency = 7\n"))

    assert settings.queue.name == "wfconsole"
    assert settings.workflow.default_timeout == 300


# --- environment overrides --------------------------------------------------------------


def test_every_contract_environment_variable_is_supported() -> None:
    assert sorted(LEGACY_ENV) == sorted(CONTRACT_ENV)


@pytest.mark.parametrize("variable", CONTRACT_ENV)
def test_legacy_environment_variable_sets_its_key(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, expected = LEGACY_SAMPLES[variable]
    monkeypatch.setenv(variable, raw)
    section, key = LEGACY_ENV[variable]

    assert setting(load_settings(), section, key) == expected


def test_legacy_environment_variable_beats_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "c.toml", '[smtp]\nhost = "from-file"\n')
    monkeypatch.setenv("SMTP_HOST", "from-env")

    assert load_settings(config).smtp.host == "from-env"


def test_empty_legacy_variable_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "c.toml", '[smtp]\nhost = "from-file"\n')
    monkeypatch.setenv("SMTP_HOST", "")

    assert load_settings(config).smtp.host == "from-file"


def test_database_url_as_users_write_it_selects_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:pass@host:5432/db")

    url = normalize_url(load_settings().database_url)

    assert url == "postgresql+psycopg://user:pass@host:5432/db"
    assert create_db_engine(url).dialect.driver == "psycopg"


def test_heroku_style_postgres_url_is_accepted() -> None:
    assert normalize_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("false", False)])
def test_smtp_secure_parses_as_a_boolean(
    raw: str, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_SECURE", raw)

    assert load_settings().smtp.secure is expected


def test_section_key_variable_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "c.toml", "[queue]\nconcurrency = 7\n")
    monkeypatch.setenv("WFCONSOLE_QUEUE__CONCURRENCY", "12")

    assert load_settings(config).queue.concurrency == 12


def test_section_key_variable_splits_lists_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFCONSOLE_SECURITY__ALLOWED_HOSTS", "erp.internal, 10.0.0.5")

    assert load_settings().security.allowed_hosts == ["erp.internal", "10.0.0.5"]


def test_legacy_variable_beats_section_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFCONSOLE_QUEUE__CONCURRENCY", "12")
    monkeypatch.setenv("WORKFLOW_QUEUE_CONCURRENCY", "3")

    assert load_settings().queue.concurrency == 3


# --- errors -----------------------------------------------------------------------------

BAD_FILES = [
    pytest.param('[queue]\nconcurrency = "many"\n', "queue.concurrency", id="not-a-number"),
    pytest.param("[queue]\nconcurrency = 0\n", "queue.concurrency", id="out-of-range"),
    pytest.param("[queue]\nconcurency = 3\n", "queue.concurency: unknown key", id="unknown-key"),
    pytest.param("[qeue]\nconcurrency = 3\n", "qeue: unknown key", id="unknown-section"),
    pytest.param('[logging]\nlevel = "LOUD"\n', "logging.level", id="bad-choice"),
    pytest.param("[queue\n", "not valid TOML", id="invalid-toml"),
]


@pytest.mark.parametrize(("text", "named"), BAD_FILES)
def test_bad_config_file_is_one_error_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    config = write_config(tmp_path / "c.toml", text)

    with pytest.raises(ConfigError) as refused:
        load_settings(config)

    message = str(refused.value)
    assert named in message
    assert str(config) in message
    assert "\n" not in message


def test_missing_config_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"

    with pytest.raises(ConfigError, match="not found") as refused:
        load_settings(missing)

    assert str(missing) in str(refused.value)


def test_missing_file_named_by_config_env_variable_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFCONSOLE_CONFIG", str(tmp_path / "nowhere.toml"))

    with pytest.raises(ConfigError, match="not found"):
        load_settings()


def test_bad_environment_value_names_the_variable_and_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WFCONSOLE_QUEUE__CONCURRENCY", "many")

    with pytest.raises(ConfigError) as refused:
        load_settings()

    assert "$WFCONSOLE_QUEUE__CONCURRENCY" in str(refused.value)
    assert "queue.concurrency" in str(refused.value)


def test_bad_legacy_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PORT", "smtp")

    with pytest.raises(ConfigError, match=r"\$SMTP_PORT: smtp\.port"):
        load_settings()


# --- the documented example -------------------------------------------------------------


def test_example_config_loads_as_exactly_the_defaults() -> None:
    assert load_settings(EXAMPLE_CONFIG).model_dump() == Settings().model_dump()


def test_example_config_documents_every_key() -> None:
    documented = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    defaults = Settings()

    expected = {
        section: set(type(getattr(defaults, section)).model_fields)
        for section in Settings.model_fields
    }
    assert {section: set(keys) for section, keys in documented.items()} == expected


def test_example_config_lists_every_environment_variable() -> None:
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")

    assert [name for name in CONTRACT_ENV if name not in text] == []
    assert "WFCONSOLE_<SECTION>__<KEY>" in text


# --- secrets ----------------------------------------------------------------------------


def _secret_fields() -> list[tuple[str, str]]:
    defaults = Settings()
    return [
        (section, key)
        for section in Settings.model_fields
        for key, field in type(getattr(defaults, section)).model_fields.items()
        if field.annotation is SecretStr
    ]


def test_settings_hold_secret_fields_for_every_credential() -> None:
    assert {
        ("queue", "redis_password"),
        ("security", "encryption_key"),
        ("smtp", "password"),
        ("twilio", "auth_token"),
        ("slack", "bot_token"),
        ("teams", "webhook_url"),
        ("sentry", "dsn"),
    } <= set(_secret_fields())


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    sections: dict[str, list[str]] = {}
    for section, key in _secret_fields():
        sections.setdefault(section, []).append(f'{key} = "secret-{section}-{key}"')
    text = "".join(f"[{name}]\n" + "\n".join(keys) + "\n" for name, keys in sections.items())
    settings = load_settings(write_config(tmp_path / "c.toml", text))

    shown = repr(settings) + str(settings) + repr(settings.smtp) + str(settings.smtp)

    assert [f"{s}.{k}" for s, k in _secret_fields() if f"secret-{s}-{k}" in shown] == []


def test_secret_values_stay_readable_by_code(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "c.toml", '[smtp]\npassword = "pw"\n'))

    assert settings.smtp.password.get_secret_value() == "pw"


def test_database_password_never_appears_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:db-secret@host:5432/db")
    monkeypatch.setenv("REDIS_URL", "redis://:redis-secret@127.0.0.1:6379/0")

    settings = load_settings()
    shown = repr(settings) + str(settings)

    assert "db-secret" not in shown
    assert "redis-secret" not in shown
    assert settings.database.url == "postgresql://user:db-secret@host:5432/db"
