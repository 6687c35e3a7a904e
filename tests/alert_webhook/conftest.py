"""The webhook tests' fixtures, from one module."""

from tests.alert_webhook.fixtures import env_secrets, hook, mailbox, sink

__all__ = ["env_secrets", "hook", "mailbox", "sink"]
