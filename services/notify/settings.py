"""Settings of the notifications service (env prefix `ZAIBAN_`, e.g. `ZAIBAN_SMTP_URL`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from services.common.settings import GatheringSettings


class NotifySettings(GatheringSettings):
    smtp_url: SecretStr | None = Field(
        default=None,
        description="Where mail is sent: smtp://user:password@host:587 (STARTTLS when the "
                    "server offers it) or smtps://user:password@host:465 (TLS from the first "
                    "byte). Unset, no email is sent.")
    smtp_ca_file: str | None = Field(
        default=None, description="The CA certificate (PEM) the SMTP server's is checked "
                                  "against; default: the system's CAs.")
    notify_mail_from: str = Field(
        default="zaiban <notify@zaiban.invalid>",
        description="The From of every email; its domain also names the Message-IDs.")
    notify_public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The public entry's address as residents reach it: the base of the case "
                    "and stop links in messages.")
    sms_provider: Literal["none", "twilio", "webhook"] = Field(
        default="none", description="How SMS is sent: twilio (the Messages API), webhook (a "
                                    "signed POST of JSON to ZAIBAN_SMS_URL), none.")
    sms_url: str = Field(
        default="", description="twilio: the API's base address; webhook: the URL posted to.")
    sms_account: str = Field(default="", description="twilio: the Account SID.")
    sms_secret: SecretStr | None = Field(
        default=None, description="twilio: the auth token; webhook: the HMAC-SHA256 key that "
                                  "signs each request.")
    sms_from: str = Field(default="", description="twilio: the sending number (From).")
    notify_max_attempts: int = Field(
        default=6, ge=1, le=50,
        description="Attempts of one message before it goes to the dead-letter topic.")
    notify_backoff_s: float = Field(
        default=30.0, gt=0, description="Wait after the first failed attempt; doubled after "
                                        "each further one.")
    notify_backoff_max_s: float = Field(default=3600.0, gt=0,
                                        description="The longest wait between attempts.")
    notify_send_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="How long one attempt may take.")
    notify_lease_s: float = Field(
        default=120.0, gt=0,
        description="An attempt claimed by an instance that died is taken up again after "
                    "this long; more than ZAIBAN_NOTIFY_SEND_TIMEOUT_S, so a slow attempt "
                    "is never doubled by another instance.")
    notify_sweep_s: float = Field(
        default=5.0, gt=0, le=3600,
        description="How often due messages (held for the night, retried) are looked for.")
    notify_max_age_h: float = Field(
        default=48.0, gt=0,
        description="An event older than this when first read is not told (a new instance "
                    "reading the log from its start tells nobody about the past).")
    notify_quiet_start_h: int = Field(default=22, ge=0, le=23,
                                      description="No SMS from this hour, city time...")
    notify_quiet_end_h: int = Field(default=8, ge=0, le=23,
                                    description="...until this hour: held until then.")

    @model_validator(mode="after")
    def _a_lease_outlives_an_attempt(self) -> NotifySettings:
        if self.notify_lease_s <= self.notify_send_timeout_s:
            raise ValueError("ZAIBAN_NOTIFY_LEASE_S must be longer than "
                             "ZAIBAN_NOTIFY_SEND_TIMEOUT_S, or a slow attempt could be taken "
                             "for a dead one and its message sent twice")
        return self
