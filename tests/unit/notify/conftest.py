"""Fixtures of the notify tests: a real webhook receiver and a real SMTP relay with STARTTLS."""

from __future__ import annotations

import pytest
from receivers import SmtpServer, WebhookServer, make_cert


@pytest.fixture
def hook():
    """A webhook receiver on 127.0.0.1 (``url``; ``requests`` as received)."""
    server = WebhookServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """(certificate, key): a self-signed certificate for 127.0.0.1."""
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp(cert):
    """An SMTP relay on 127.0.0.1 offering STARTTLS and AUTH with ``cert`` (``auth``, ``messages``)."""
    server = SmtpServer(*cert)
    yield server
    server.close()
