"""Every knob of the platform, read once from environment variables.

One field per setting; the field name upper-cased is its environment variable
(``KAFKA_BROKER``, ``MYSQL_HOST`` ...). The README's settings table is generated
from this class (``python -m config.settings --markdown``), so the two never drift.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "SERVICES", "DEV_SESSION_SECRET"]

#: The six services, each its own Faust app (``faust -A agents.<service> worker``).
SERVICES = ("gateway", "cart", "orders", "inventory", "payment", "notification")
#: signs development tokens only: refused when ``ENVIRONMENT=production``
DEV_SESSION_SECRET = "megatron-development-only-session-secret"


class Settings(BaseSettings):
    """Typed, documented configuration; defaults run everything on this machine."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    # --- broker -----------------------------------------------------------
    kafka_broker: str = Field(
        "kafka://127.0.0.1:9092",
        description="Kafka bootstrap URL (`kafka://a:9092;b:9092` for several). Unless it is set, `make run` "
        "starts a local Apache Kafka broker here.",
    )
    kafka_libs: Path = Field(
        Path("~/.cache/megatron/kafka/libs"),
        description="The local broker's jars, fetched by Maven from `dev/kafka/pom.xml` (`make kafka`).",
    )
    kafka_storage: Path = Field(
        Path("var/kafka"), description="The local broker's log (topics, offsets, changelogs); kept across runs."
    )
    producer_linger_ms: int = Field(
        0, ge=0, description="How long a producer waits to fill a batch. Records sent while a request is in "
        "flight are batched anyway; see docs/benchmark.md for the measurement.",
    )
    producer_max_batch_size: int = Field(16384, ge=1, description="Largest produce batch per partition, bytes.")
    changelog_segment_ms: int = Field(
        60_000, ge=1_000,
        description="A table changelog's segment rolls after this long, so Kafka's cleaner can compact all "
        "but its last segment: a worker restoring a table reads about one record per key, not every "
        "write since the topic was created (the active segment is never compacted).",
    )
    kafka_delivery_gap_patience_s: float = Field(
        2.0, ge=0,
        description="A worker re-reads a partition whose fetch skipped records, so that no record is committed "
        "unhandled (a Faust race after restarts); a gap still there after this long is real (compaction, "
        "transactions) and let through. 0 turns the re-reading off.",
    )
    topic_partitions: int = Field(
        4, ge=1, description="Partitions of every topic; a multiple of the most workers of one service."
    )
    topic_replication_factor: int = Field(
        1, ge=1, description="Replicas of every topic the platform creates: 1 on one local broker, 3 in compose."
    )
    topic_min_insync_replicas: int = Field(
        1, ge=1, description="Replicas that must have a record before acks=all answers: 1 locally, 2 in compose "
        "(one broker may be down, none is lost).",
    )
    table_standby_replicas: int = Field(
        0, ge=0, description="Standby copies of each table on other workers of its service (1 in compose: a "
        "failed worker's partitions resume without replaying the whole changelog).",
    )
    static_membership: bool = Field(
        True, description="Each worker joins its consumer group as a static member named by its web address: "
        "restarted at the same address it takes its partitions back at once, not after the session timeout; "
        "a worker stopped for good keeps its partitions until that timeout.",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="At-least-once with idempotent handlers; see the README on `exactly_once`.",
    )
    broker_session_timeout: float = Field(
        10.0, gt=0, description="Consumer group session timeout, seconds: how long a dead worker keeps its partitions."
    )
    app_id_prefix: str = Field(
        "megatron", description="Prefix of every app id (consumer group); tests use a unique one."
    )
    data_dir: Path = Field(Path("var/data"), description="RocksDB data; one folder per service worker.")
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object per handled event in the worker logs (for grep and jq)."
    )
    log_dir: Path = Field(Path("var/log"), description="Logs of `make run`, one file per process.")

    # --- stores -----------------------------------------------------------
    mysql_host: str = Field("127.0.0.1", description="MySQL/MariaDB host of the mirror.")
    mysql_port: int = Field(3306, description="MySQL port.")
    mysql_user: str = Field("root", description="MySQL user.")
    mysql_password: str = Field("", description="MySQL password.")
    mysql_db_prefix: str = Field(
        "", description="Prefix of the mirror databases (`orders_db` ...); tests use their own."
    )
    mirror_flush_interval_ms: int = Field(200, ge=1, description="Longest a mirror row waits before it is written.")
    mirror_batch_size: int = Field(500, ge=1, description="Rows that make the mirror flush at once.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis holding the carts.")
    redis_key_prefix: str = Field("megatron", description="Prefix of every Redis key (tests use their own).")

    # --- HTTP -------------------------------------------------------------
    gateway_url: str = Field("http://127.0.0.1:8080", description="Where the API gateway listens.")
    cart_url: str = Field("http://127.0.0.1:8081", description="Cart service.")
    orders_url: str = Field("http://127.0.0.1:8082", description="Order service.")
    inventory_url: str = Field("http://127.0.0.1:8083", description="Inventory service.")
    payment_url: str = Field("http://127.0.0.1:8084", description="Payment service (health and metrics).")
    notification_url: str = Field("http://127.0.0.1:8085", description="Notification service.")
    web_bind: str | None = Field(
        None, description="Address a worker's web server binds; default: the host of its service URL."
    )
    upi_gateway_url: str = Field("http://127.0.0.1:8090", description="External UPI payment gateway (simulator locally).")
    upi_timeout_s: float = Field(2.0, gt=0, description="Timeout of one call to the UPI gateway.")
    upi_sim_delay_ms: int = Field(20, ge=0, description="Simulator: delay before it approves or declines.")
    payment_deadline_s: float = Field(
        60.0, gt=0, description="How long the payment service retries a gateway that does not answer "
        "before it asks for the payment's status and gives up (PAYMENT_TIMEOUT).")
    payment_retry_base_s: float = Field(0.5, gt=0, description="First retry delay; doubles per attempt, at most 8 s.")
    payment_calls_in_flight: int = Field(
        64, ge=1, description="UPI gateway calls one payment worker has open at once; a slow or silent gateway "
        "delays only its own orders, up to this many.")
    order_deadline_s: float = Field(
        90.0, gt=0, description="An order with no final status after this long is failed (TIMED_OUT); "
        "longer than the payment deadline, so a payment in progress settles first.")
    sweep_interval_s: float = Field(1.0, gt=0, description="How often deadlines and retries are checked.")
    http_timeout_s: float = Field(5.0, gt=0, description="Timeout of calls between services.")
    handler_retries: int = Field(
        3, ge=0, description="Retries of an event whose handler failed with a transient error, with backoff, "
        "before it goes to its topic's DLQ.")
    handler_retry_base_s: float = Field(0.2, gt=0, description="First delay between those retries; doubles each time.")
    order_read_wait_s: float = Field(
        2.0, ge=0, description="How long `GET /orders/{id}` waits for an order its owner has not stored yet."
    )

    # --- notifications ----------------------------------------------------
    smtp_host: str = Field("127.0.0.1", description="SMTP server for order emails.")
    smtp_port: int = Field(8025, description="SMTP port (the local mail sink in `make run`).")
    mail_from: str = Field("orders@megatron.store", description="Sender of order emails.")
    mail_dir: Path = Field(Path("var/mail"), description="Where the local mail sink writes each message.")
    sms_sender: str = Field("log", description="SMS sender: `log` writes each SMS to the notification log.")
    notify_retry_max_s: float = Field(
        10.0, gt=0, description="Longest pause between the order service's tries to hand a final order to the "
        "notification service; it tries until the service has accepted.")

    # --- shoppers' sessions and the API's limits ---------------------------
    environment: Literal["development", "production"] = Field(
        "development", description="`production` refuses development defaults (the session secret)."
    )
    session_secret: str = Field(
        DEV_SESSION_SECRET, min_length=32,
        description="Signs the shoppers' tokens (HS256). Set a long random value in production; the default "
        "is refused there.",
    )
    session_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="How long a shopper's token is valid, seconds.")
    signin_code_ttl_s: int = Field(600, ge=30, description="How long a mailed sign-in code is valid, seconds.")
    signin_code_attempts: int = Field(5, ge=1, description="Wrong tries before a sign-in code is void.")
    idempotency_ttl_s: int = Field(
        24 * 3600, ge=3600, description="How long a checkout's Idempotency-Key answers its first result."
    )
    rate_limit_shopper: str = Field(
        "20/second;600/minute", description="Requests per shopper (token) across the API ([limits] syntax, "
        "`;` between windows).",
    )
    rate_limit_address: str = Field(
        "100/second;3000/minute", description="Requests per client address (many shoppers can share one).",
    )
    rate_limit_session: str = Field(
        "30/minute;300/hour", description="New guest sessions per client address.",
    )
    rate_limit_signin: str = Field(
        "5/10 minutes", description="Sign-in codes mailed per email address.",
    )
    rate_limit_signin_address: str = Field(
        "30/10 minutes", description="Sign-in calls (codes asked and tried) per client address.",
    )
    max_body_bytes: int = Field(16 * 1024, ge=1024, description="Largest request body; larger is 413.")
    max_line_quantity: int = Field(10, ge=1, description="Largest quantity of one cart line.")
    max_cart_lines: int = Field(20, ge=1, description="Most distinct SKUs in one cart.")

    @model_validator(mode="after")
    def _no_development_secret_in_production(self) -> "Settings":
        if self.environment == "production" and self.session_secret == DEV_SESSION_SECRET:
            raise ValueError("SESSION_SECRET is the development default; set a long random one in production")
        return self

    def service_url(self, service: str) -> str:
        """Base URL of a service's web server."""
        return str(getattr(self, f"{service}_url"))

    def database(self, name: str) -> str:
        """Name of a mirror database (`orders_db` ...) with this deployment's prefix."""
        return f"{self.mysql_db_prefix}{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def markdown_table() -> str:
    """The README's settings table, from the same declarations the code reads."""
    rows = ["| variable | default | what it sets |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| `{name.upper()}` | `{field.default}` | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - documentation helper
    if "--markdown" in sys.argv:
        print(markdown_table())
