"""A development certificate authority and the broker's server certificate, made with `cryptography`.

For `make run` and tests: the controller (and a tester) trust `ca.crt`; production uses a real certificate
(docs/operations.md). Keys are written mode 600; a server certificate close to its end is made anew.
"""

import ipaddress
import socket
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pa_controller.messaging.broker.accounts import write_private
from pa_controller.messaging.broker.config import BrokerFiles

CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept, a habit worth keeping for anything that verifies names
RENEW_BEFORE = timedelta(days=30)


def ensure_development_ca(files: BrokerFiles, now: datetime | None = None) -> None:
    """Make the CA once and a server certificate for this host whenever there is none valid for 30 more days."""
    now = now or datetime.now(UTC)
    if not files.ca_cert.exists() or not files.ca_key.exists():
        _make_ca(files, now)
    if not _valid_until(files.server_cert, now + RENEW_BEFORE) or not files.server_key.exists():
        _make_server(files, now)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "LoaNet development"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _make_ca(files: BrokerFiles, now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"LoaNet development CA ({socket.gethostname()})")
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(files.ca_key, _pem_key(key))
    write_private(files.ca_cert, certificate.public_bytes(serialization.Encoding.PEM).decode(), 0o644)
    files.server_cert.unlink(missing_ok=True)  # signed by the CA that is gone


def _make_server(files: BrokerFiles, now: datetime) -> None:
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname()
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
             x509.IPAddress(ipaddress.ip_address("::1"))]
    if host and host != "localhost":
        names.append(x509.DNSName(host))
    certificate = (
        x509.CertificateBuilder().subject_name(_name(host or "localhost")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(files.server_key, _pem_key(key))
    write_private(files.server_cert, certificate.public_bytes(serialization.Encoding.PEM).decode(), 0o644)


def _valid_until(path, moment: datetime) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return False
    return certificate.not_valid_after_utc > moment
