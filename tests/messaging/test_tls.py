"""The broker's TLS listener: the controller connects over mqtts:// trusting the development CA, and only so."""

import time

import pytest

from pa_controller.messaging.link import Login, MqttLink
from tests.support.broker import running_broker


@pytest.fixture
def tls_broker(tmp_path):
    with running_broker(tmp_path / "broker", clusters=[], tls=True) as running:
        yield running


HANDLERS = {"status": lambda topic, payload: None}


def link_to(broker, ca_file, login=True) -> MqttLink:
    known = Login("loanet.controller", broker.controller_password_file) if login else None
    return MqttLink(broker.tls_url, "loanet.controller", "pa/v1", HANDLERS, lambda mid, ok: None, ca_file=ca_file,
                    login=known)


def test_the_controller_connects_over_tls_trusting_the_development_ca(tls_broker):
    link = link_to(tls_broker, tls_broker.files.ca_cert)
    link.start()
    try:
        assert link.connected.wait(10)
    finally:
        link.stop()


def test_without_the_ca_the_controller_refuses_the_brokers_certificate(tls_broker):
    link = link_to(tls_broker, None)  # the system's CAs, which never signed the development CA's certificate
    link.start()
    try:
        time.sleep(3)
        assert not link.connected.is_set()
    finally:
        link.stop()


def test_the_tls_listener_wants_a_login_too(tls_broker):
    link = link_to(tls_broker, tls_broker.files.ca_cert, login=False)
    link.start()
    try:
        time.sleep(3)
        assert not link.connected.is_set()
    finally:
        link.stop()
