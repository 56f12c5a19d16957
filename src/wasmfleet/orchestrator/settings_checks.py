"""Checks of the orchestrator's settings that span several of them (signatures, e-mail)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.core.notify_targets import parse_smtp_url
from wasmfleet.service.settings import where_to_set

if TYPE_CHECKING:
    from wasmfleet.orchestrator.settings import OrchestratorSettings


def check_notifications(settings: OrchestratorSettings) -> None:
    """E-mail needs an SMTP server, and its URL must parse (ConfigurationError otherwise)."""
    if settings.smtp_url:
        parse_smtp_url(settings.smtp_url, where_to_set(type(settings), "smtp_url"))
    elif settings.notify_emails:
        raise ConfigurationError(
            "--notify-email needs --smtp-url smtp://HOST:PORT (the server the e-mail is "
            "sent through)."
        )


def check_signatures(settings: OrchestratorSettings) -> None:
    """Signatures are required with trusted keys, and only then (ConfigurationError)."""
    if settings.require_signatures and not settings.trusted_keys:
        raise ConfigurationError(
            "--require-signatures needs at least one --trusted-key FILE.pub (the public "
            "keys whose signatures uploads may carry)."
        )
    if settings.trusted_keys and not settings.require_signatures:
        raise ConfigurationError(
            "--trusted-key is given without --require-signatures; add it to refuse "
            "unsigned uploads (the keys are used only then)."
        )
    if settings.trusted_keys:
        from wasmfleet.service.trusted_keys import load_trusted_keys

        load_trusted_keys(settings.trusted_keys)  # ConfigurationError naming a bad file
