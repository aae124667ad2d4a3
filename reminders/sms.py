"""Text messages (SMS): one small backend interface, like Django's e-mail backends.

`settings.SMS_BACKEND` names the class. A real provider's backend passes each
message's `key` as the provider's idempotency key (client reference): the outbox
may hand the same message over twice after a worker dies between "the provider
accepted it" and "we recorded it as sent", and the key is what makes the second
hand-over a no-op (see `reminders.outbox`). The file and locmem backends keep that
promise; the console backend is for a developer's terminal and does not.
"""

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    # The same key is delivered at most once, however often it is handed over.
    key: str


class BaseSmsBackend:
    """Deliver text messages. `send_messages` returns how many were accepted and
    raises on a failure the sender should retry."""

    # True when a repeated key is never delivered twice.
    idempotent = False

    def send_messages(self, messages: list[SmsMessage]) -> int:
        raise NotImplementedError


class ConsoleBackend(BaseSmsBackend):
    """Print messages to standard output (local development)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send_messages(self, messages):
        for message in messages:
            self.stream.write(f"SMS to {message.to} [{message.key}]\n{message.body}\n{'-' * 40}\n")
        self.stream.flush()
        return len(messages)


class FileBackend(BaseSmsBackend):
    """One file per message in `settings.SMS_FILE_PATH`, named by its key.

    The file is written aside and then linked into place, which fails if the key
    was delivered before: that makes the backend idempotent across processes.
    `settings.SMS_FILE_DELAY` seconds of sleep after each delivery stand in for a
    slow provider, so tests can stop a worker between delivery and bookkeeping.
    `calls.log` lists every hand-over, repeats included.
    """

    idempotent = True

    def __init__(self, path=None):
        self.path = Path(path or settings.SMS_FILE_PATH)
        self.delay = float(getattr(settings, "SMS_FILE_DELAY", 0) or 0)

    def send_messages(self, messages):
        self.path.mkdir(parents=True, exist_ok=True)
        for message in messages:
            self._deliver(message)
            if self.delay:
                time.sleep(self.delay)
        return len(messages)

    def _deliver(self, message: SmsMessage) -> None:
        with open(self.path / "calls.log", "a", encoding="utf-8") as log:
            log.write(f"{message.key}\n")
        final = self.path / f"{_safe_name(message.key)}.sms"
        aside = self.path / f".{final.name}.{os.getpid()}.{threading.get_ident()}"
        aside.write_text(f"To: {message.to}\nKey: {message.key}\n\n{message.body}\n", "utf-8")
        try:
            os.link(aside, final)
        except FileExistsError:
            pass  # delivered before: the key makes this hand-over a no-op
        finally:
            aside.unlink()


class LocmemBackend(BaseSmsBackend):
    """Keep messages in `LocmemBackend.outbox` (tests), once per key."""

    idempotent = True
    outbox: list[SmsMessage] = []

    def send_messages(self, messages):
        delivered = {m.key for m in LocmemBackend.outbox}
        for message in messages:
            if message.key not in delivered:
                LocmemBackend.outbox.append(message)
                delivered.add(message.key)
        return len(messages)


def _safe_name(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in key)


def get_sms_backend(path: str | None = None) -> BaseSmsBackend:
    return import_string(path or settings.SMS_BACKEND)()
