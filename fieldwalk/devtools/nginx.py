"""The example nginx site (docs/nginx/fieldwalk.conf) run for real on loopback, in front of
pools on ports of their own: the tests check where it sends each request, and bench/load.py
measures through it, since the deployment relies on it (it buffers each request whole, so a
slow phone never holds a gunicorn worker).

    >>> site = loopback_site(SITE.read_text(), 8080, 8443, {5000: 41000, 5001: 41001})
    >>> with running_nginx(folder, site) as front:   # HTTPS on 8443, HTTP on 8080
    ...     ...
"""

import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

SITE = Path(__file__).resolve().parents[2] / "docs" / "nginx" / "fieldwalk.conf"
SITE_NAME = "fieldwalk.example.se"  # the site's server_name


def unchecked_tls() -> ssl.SSLContext:
    """A client's TLS context that takes the throwaway certificate (TLS is not what is tested)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def find_nginx() -> str | None:
    """Debian's nginx, on the PATH or in /usr/sbin (not on a non-root PATH)."""
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


def loopback_site(site: str, http_port: int, https_port: int, pools: dict[int, int]) -> str:
    """The site listening on 127.0.0.1 only, with each pool's port (5000, 5001, 5002 in the
    example) replaced by the port it runs on here."""
    site = re.sub(r"(?m)^\s*listen \[::\].*\n", "", site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    for deployed, here in pools.items():
        site = site.replace(f"127.0.0.1:{deployed}", f"127.0.0.1:{here}")
    return site


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for localhost: openssl's command line, else the
    cryptography package. An ECDSA P-256 key, as certbot makes by default (since 2.0): each
    new phone connection's handshake costs nginx a fraction of an RSA-2048 one's, which under
    300 phones connecting at once (bench/load.py --burst) took much of a core."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if shutil.which("openssl"):
        subprocess.run(  # noqa: S603 - a fixed command line
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
            + ["-nodes", "-days", "1"]
            + ["-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )
        return cert, key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def nginx_options(folder: Path, site: str, cert: Path, key: Path) -> list[str]:
    """Write `site` with the certificate, inside a minimal nginx.conf that keeps every file
    in `folder` (with Debian's workers and connections); the nginx command line options."""
    site, replaced = re.subn(
        r"(?m)^(\s*)ssl_certificate\s+\S+;", rf"\1ssl_certificate {cert};", site
    )
    site, replaced_key = re.subn(
        r"(?m)^(\s*)ssl_certificate_key\s+\S+;", rf"\1ssl_certificate_key {key};", site
    )
    if replaced != 1 or replaced_key != 1:
        raise ValueError("the site must name one ssl_certificate and one ssl_certificate_key")
    (folder / "fieldwalk.conf").write_text(site)
    temp = folder / "temp"
    temp.mkdir(exist_ok=True)
    mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    # As root, nginx's workers would run as nobody, who cannot enter a private temp folder.
    user = "user root;" if os.geteuid() == 0 else ""
    (folder / "nginx.conf").write_text(
        f"""
        {user}
        pid {folder}/nginx.pid;
        error_log {folder}/error.log;
        # Debian's /etc/nginx/nginx.conf: a worker per core, 768 connections each.
        worker_processes auto;
        events {{ worker_connections 768; }}
        http {{
            {mime}
            # When each request ended, how long nginx had it, how long the pool took.
            log_format timed '$msec $request_time $upstream_response_time $status '
                             '$request_method $uri';
            access_log {folder}/access.log timed;
            client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
            uwsgi_temp_path {temp}; scgi_temp_path {temp};
            include {folder}/fieldwalk.conf;
        }}
        """
    )
    return ["-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")]


@contextmanager
def running_nginx(
    nginx: str, options: list[str], port: int, timeout: float = 10
) -> Iterator[subprocess.Popen]:
    """nginx in the foreground with `options`, once it listens on `port`; stopped after."""
    server = subprocess.Popen(  # noqa: S603 - the nginx found on this machine
        [nginx, *options, "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"nginx exited: {server.returncode}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start listening") from None
                time.sleep(0.05)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
