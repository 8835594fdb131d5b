"""Configuration: one typed settings object.

Precedence, highest first: the environment variables of the original system
(``DATABASE_URL``, ``SMTP_HOST`` …), then ``WFCONSOLE_<SECTION>__<KEY>`` variables, then
the TOML file (``--config`` > ``$WFCONSOLE_CONFIG`` > ``./wfconsole.toml``), then the
built-in local-first defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)

# Re-exported: callers name these through engine.config, as before they moved.
from engine.config_sources import APP_NAME as APP_NAME
from engine.config_sources import CONFIG_ENV as CONFIG_ENV
from engine.config_sources import ENV_PREFIX as ENV_PREFIX
from engine.config_sources import LEGACY_ENV as LEGACY_ENV
from engine.config_sources import ConfigError, data_dir, merged_data
from engine.config_sources import find_config_file as find_config_file

# The password part of ``scheme://user:password@host``; greedy up to the last '@'.
_URL_PASSWORD = re.compile(r"(?P<head>^[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)[^/]*@")


def _redact_url_password(value: str) -> str:
    return _URL_PASSWORD.sub(r"\g<head>***@", value)


class _Section(BaseModel):
    # Validators are built at a model's first validation, not at import: a command on
    # the defaults builds none (``load_settings`` validates only the sections given).
    model_config = ConfigDict(extra="forbid", validate_default=True, defer_build=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # DATABASE_URL and REDIS_URL may carry a password: repr, str and logs never show it.
        for name, value in super().__repr_args__():
            yield name, _redact_url_password(value) if isinstance(value, str) else value


class DatabaseSettings(_Section):
    url: str = Field(
        default="", description="SQLAlchemy/libpq URL; empty = SQLite file in the data dir."
    )
    read_url: str = Field(default="", description="Optional read replica for read-only queries.")
    pool_size: int = Field(default=10, ge=1, description="Connections per process (PostgreSQL).")
    echo: bool = Field(default=False, description="Log every SQL statement (debugging).")


class QueueSettings(_Section):
    path: str = Field(
        default="", description="SqliteHuey file of the local queue; empty = data dir."
    )
    redis_url: str = Field(
        default="", description="Set to use RedisHuey instead of the local queue."
    )
    redis_password: SecretStr = Field(
        default=SecretStr(""), description="Overrides the URL's password."
    )
    name: str = Field(default="wfconsole", description="Huey queue name (one per deployment).")
    concurrency: int = Field(default=5, ge=1, le=256, description="Worker threads per consumer.")
    batch_size: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Executions one worker thread claims, runs and commits together.",
    )
    embedded_worker: bool = Field(
        default=True, description="Run a consumer thread in-process (local queue)."
    )
    sweep_interval: float = Field(default=10.0, gt=0, description="Seconds between sweeper passes.")
    heartbeat_interval: float = Field(
        default=5.0, gt=0, description="Seconds between worker heartbeats (alive = 3 missed)."
    )
    signing_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs queue messages; empty = a random key kept by the deployment.",
    )


class WorkflowSettings(_Section):
    max_concurrent_executions: int = Field(
        default=10, ge=1, description="RUNNING cap across workers."
    )
    default_timeout: int = Field(
        default=300, ge=1, description="Seconds, for definitions without one."
    )
    default_max_retries: int = Field(default=3, ge=0, le=100)
    default_retry_delay: int = Field(default=60, ge=0, description="Seconds; doubles per retry.")
    max_retry_delay: int = Field(
        default=3600, ge=1, description="Cap on the backoff delay, seconds."
    )
    webhook_timeout: float = Field(
        default=30.0, gt=0, description="Seconds per outbound HTTP attempt."
    )
    webhook_max_retries: int = Field(default=3, ge=0, le=20, description="In-step HTTP retries.")
    max_event_depth: int = Field(
        default=5, ge=1, description="Limit for event chains (loop guard)."
    )
    misfire_policy: Literal["once", "skip", "all"] = Field(
        default="once", description="Schedule fire times missed during downtime: once|skip|all."
    )
    misfire_max_runs: int = Field(
        default=10, ge=1, le=1000, description="With misfire_policy = all: at most this many."
    )
    misfire_grace: float = Field(
        default=60.0, ge=0, description="Seconds late a fire time still runs under 'skip'."
    )


class RetentionSettings(_Section):
    logs_days: int = Field(default=90, ge=1)
    executions_days: int = Field(default=30, ge=1)
    backups_days: int = Field(default=30, ge=1)
    cleanup_time: str = Field(default="03:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    backups_dir: str = Field(default="", description="Empty = <data dir>/backups.")


class CacheSettings(_Section):
    enabled: bool = Field(
        default=True, description="Cache workflow lookups (in Redis when the queue is)."
    )
    ttl: int = Field(default=3600, ge=0, description="Seconds an entry stays cached; 0 = off.")


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class SecuritySettings(_Section):
    encryption_key: SecretStr = Field(
        default=SecretStr(""), description="Fernet key(s), comma-separated, newest first."
    )
    rate_limit_per_minute: int = Field(default=60, ge=1)
    allow_private_targets: bool = False
    allowed_hosts: list[str] = Field(default_factory=list)
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    signature_tolerance: int = Field(default=300, ge=1, description="Seconds.")


class SmtpSettings(_Section):
    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    secure: bool = Field(
        default=False, description="true = implicit TLS (SMTPS); false = STARTTLS."
    )
    user: str = ""
    password: SecretStr = SecretStr("")
    from_address: str = ""
    timeout: float = Field(default=30.0, gt=0)
    verify_tls: bool = Field(
        default=True, description="Check the server's TLS certificate and host name."
    )
    ca_file: str = Field(default="", description="PEM file of CAs to trust; empty = system CAs.")


class TwilioSettings(_Section):
    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    phone_number: str = ""
    api_base_url: str = Field(default="", description="Override for tests; empty = Twilio's API.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per Twilio API request.")


class SlackSettings(_Section):
    bot_token: SecretStr = SecretStr("")
    webhook_url: SecretStr = SecretStr("")
    api_base_url: str = Field(default="", description="Override for tests; empty = slack.com/api/.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per Slack call.")


class TeamsSettings(_Section):
    webhook_url: SecretStr = SecretStr("")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per Teams webhook call.")


AlertRule = Literal["failure_rate", "queue_depth", "no_worker", "schedule_missed"]
Severity = Literal["low", "medium", "high", "critical"]
ALERT_RULES: tuple[AlertRule, ...] = ("failure_rate", "queue_depth", "no_worker", "schedule_missed")


class AlertsSettings(_Section):
    enabled: bool = True
    rules: list[AlertRule] = Field(
        default_factory=lambda: list(ALERT_RULES),
        description="The rules that are evaluated.",
    )
    check_interval: float = Field(default=60.0, gt=0, description="Seconds between checks.")
    failure_rate_threshold: float = Field(default=0.5, ge=0, le=1)
    failure_rate_min_executions: int = Field(default=10, ge=1)
    window_minutes: int = Field(default=15, ge=1)
    failure_rate_severity: Severity = "high"
    queue_depth_threshold: int = Field(default=1000, ge=1)
    queue_depth_severity: Severity = "medium"
    no_worker: Literal["auto", "always", "never"] = Field(
        default="auto", description="auto = only with a Redis queue (remote workers)."
    )
    no_worker_severity: Severity = "critical"
    schedule_missed_grace_minutes: int = Field(default=15, ge=1)
    schedule_missed_severity: Severity = "medium"
    cooldown_minutes: int = Field(default=60, ge=0)
    repeat_minutes: int = Field(default=0, ge=0, description="0 = once per incident.")
    min_severity: Severity = Field(default="low", description="Lower ones are not sent.")
    email_to: list[str] = Field(default_factory=list)
    slack_channel: str = ""
    slack_webhook_url: SecretStr = SecretStr("")
    teams: bool = False
    teams_webhook_url: SecretStr = SecretStr("")


class SentrySettings(_Section):
    dsn: SecretStr = SecretStr("")
    environment: str = "production"


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="IPs/CIDRs whose X-Forwarded-For is believed; empty = the peer address.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return [entry.strip() for entry in value]


class OutboundSettings(_Section):
    breaker_enabled: bool = Field(
        default=False,
        description="Open a destination's circuit after breaker_threshold transient failures.",
    )
    breaker_threshold: int = Field(
        default=5, ge=1, le=10000, description="Consecutive transient failures that open it."
    )
    breaker_cooldown: float = Field(
        default=60.0, gt=0, le=86400, description="Seconds before one probe call is let through."
    )


class ConsoleSettings(_Section):
    refresh_interval: float = Field(
        default=2.0, gt=0, description="Seconds between live refreshes."
    )


class Settings(_Section):
    """Everything wfconsole reads from configuration."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    workflow: WorkflowSettings = Field(default_factory=WorkflowSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    teams: TeamsSettings = Field(default_factory=TeamsSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    sentry: SentrySettings = Field(default_factory=SentrySettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)

    _source: str = PrivateAttr(default="defaults")

    @property
    def source(self) -> str:
        """The config file these settings came from, or 'defaults'."""
        return self._source

    @property
    def database_url(self) -> str:
        """The configured database URL, or the local SQLite file."""
        return self.database.url or f"sqlite:///{data_dir() / 'wfconsole.db'}"

    @property
    def queue_path(self) -> Path:
        """The SqliteHuey file used when no Redis URL is configured."""
        return Path(self.queue.path) if self.queue.path else data_dir() / "queue.db"

    @property
    def uses_redis(self) -> bool:
        """True when the queue runs on Redis."""
        return bool(self.queue.redis_url)


def _env_value(section: str, key: str, value: str) -> Any:
    """List-valued keys accept a comma-separated variable."""
    section_model = Settings.model_fields.get(section)
    factory = section_model.default_factory if section_model is not None else None
    annotation = None
    if isinstance(factory, type) and issubclass(factory, BaseModel):
        field = factory.model_fields.get(key)
        annotation = field.annotation if field else None
    if annotation is not None and getattr(annotation, "__origin__", None) is list:
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """First error of a pydantic ValidationError as 'dotted.key: message'."""
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{prefix}{key}: {message}"


def _validated(data: dict[str, Any]) -> Settings:
    """``Settings.model_validate(data)``, validating only the sections ``data`` has.

    The others are their defaults, which validate as they are: building every section's
    validator would be a tenth of a small command's start. Anything else (an unknown
    section, a section that is not a table, a bad value) goes through the whole model, so
    errors read as they always did.
    """
    sections: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        section = field.default_factory
        if not (isinstance(section, type) and issubclass(section, _Section)):
            return Settings.model_validate(data)
        if name not in data:
            sections[name] = section.model_construct()
        elif isinstance(data[name], dict):
            try:
                sections[name] = section.model_validate(data[name])
            except ValidationError:
                return Settings.model_validate(data)  # names the key with its section
    if set(data) - sections.keys() or any(not isinstance(v, dict) for v in data.values()):
        return Settings.model_validate(data)
    return Settings.model_construct(_fields_set=set(data), **sections)


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load settings from file and environment; raises ConfigError naming the bad key."""
    environ = os.environ if environ is None else environ
    env_sources: dict[tuple[str, str], str] = {}
    path, data = merged_data(config_path, environ, env_sources, _env_value)
    where = f"config {path}" if path else "config"
    try:
        settings = _validated(data)
    except ValidationError as exc:
        # A bad value from the environment names its variable, not the file.
        loc = tuple(str(part) for part in exc.errors()[0]["loc"][:2])
        for key, variable in env_sources.items():
            if key[: len(loc)] == loc:
                where = f"environment ${variable}"
                break
        raise ConfigError(format_validation_error(exc, prefix=f"{where}: ")) from None
    settings._source = str(path) if path else "defaults"
    return settings
