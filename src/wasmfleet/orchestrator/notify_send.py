"""Sending one notification to one target: a webhook POST (httpx) or an e-mail (smtplib).

Each sender raises ``DeliveryFailed`` with a sentence and whether trying again can help
(a refused connection, a timeout or a 5xx can; a 4xx answer or a refused address cannot).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx

import wasmfleet
from wasmfleet.core.notify_targets import SmtpServer

SIGNATURE_HEADER = "X-Wasmfleet-Signature"
"""``sha256=<hex HMAC-SHA256 of the body>`` keyed with --notify-webhook-secret."""


class DeliveryFailed(Exception):
    """A notification did not reach its target; ``retry`` says whether trying again can help."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry


def webhook_body(message: Mapping[str, Any]) -> bytes:
    """The JSON body a webhook receives: event, time, subject, text, data."""
    keys = ("event", "time", "subject", "text", "data")
    return json.dumps({k: message[k] for k in keys}, default=str).encode()


def signature(secret: str, body: bytes) -> str:
    """The value of the signature header for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_webhook(
    client: httpx.AsyncClient,
    url: str,
    message: Mapping[str, Any],
    *,
    secret: str | None,
    delivery: str,
    timeout: float,
) -> None:
    """POST the message to ``url``; DeliveryFailed unless it answers 2xx."""
    body = webhook_body(message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"wasmfleet/{wasmfleet.__version__}",
        "X-Wasmfleet-Event": str(message["event"]),
        "X-Wasmfleet-Delivery": delivery,
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        raise DeliveryFailed(f"{url} did not answer within {timeout:g} s", retry=True) from None
    except httpx.HTTPError as err:
        reason = str(err) or type(err).__name__
        raise DeliveryFailed(f"could not reach {url}: {reason}", retry=True) from None
    if response.is_success:
        return
    code = response.status_code
    retry = code >= 500 or code in (408, 429)
    raise DeliveryFailed(f"{url} answered {code} {response.reason_phrase}", retry=retry)


def mail(sender: str, to: str, message: Mapping[str, Any]) -> EmailMessage:
    """The e-mail for one notification: the subject, the text, then the data as JSON."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = f"[wasmfleet] {message['subject']}"
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail["X-Wasmfleet-Event"] = str(message["event"])
    data = json.dumps(message["data"], indent=2, sort_keys=True, default=str)
    mail.set_content(
        f"{message['text']}\n\nevent: {message['event']}\ntime: {message['time']}\n\n{data}\n"
    )
    return mail


def send_mail(
    server: SmtpServer,
    sender: str,
    to: str,
    message: Mapping[str, Any],
    *,
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> None:
    """Send the notification to ``to`` through ``server`` (blocking: run it in a thread)."""
    context = context or ssl.create_default_context()
    where = f"the SMTP server {server.host}:{server.port}"
    try:
        smtp: smtplib.SMTP
        if server.security == "tls":
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if server.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if server.username:
                smtp.login(server.username, server.password or "")
            smtp.send_message(mail(sender, to, message))
    except smtplib.SMTPRecipientsRefused as err:
        (code, reply), *_ = err.recipients.values()
        raise DeliveryFailed(
            f"{where} refused {to}: {code} {_text(reply)}", retry=400 <= code < 500
        ) from None
    except smtplib.SMTPAuthenticationError as err:
        raise DeliveryFailed(
            f"{where} refused the user and password of --smtp-url: {err.smtp_code} "
            f"{_text(err.smtp_error)}",
            retry=False,
        ) from None
    except smtplib.SMTPResponseException as err:
        raise DeliveryFailed(
            f"{where} answered {err.smtp_code} {_text(err.smtp_error)}",
            retry=400 <= err.smtp_code < 500,
        ) from None
    except smtplib.SMTPNotSupportedError as err:
        raise DeliveryFailed(f"{where}: {err}", retry=False) from None
    except ssl.SSLError as err:
        raise DeliveryFailed(f"TLS with {where} failed: {err.reason or err}", retry=False) from None
    except (OSError, smtplib.SMTPException) as err:
        reason = str(err) or type(err).__name__
        raise DeliveryFailed(f"could not send through {where}: {reason}", retry=True) from None


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
