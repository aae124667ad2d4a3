"""The demo identity provider (demo_idp) as a real process for the OIDC tests.

`demo_idp`: started once per run on 127.0.0.1 and a free port, with its own database
beside the test database and a signing key made at its first start; stopped and its
database dropped afterwards. `oidc_providers` configures Naravard's citizen and staff
logins at it, and `sign_at_idp` walks a login through its pages over HTTP, as a browser
without JavaScript would.
"""

import html
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import psycopg
import pytest
import requests
from psycopg import sql

from naravard.localservices import free_port, tail, with_db

ROOT = Path(__file__).resolve().parents[1]
CLIENTS = {"citizen": ("naravard-citizen", "demo-citizen-secret"),
           "staff": ("naravard-staff", "demo-staff-secret")}  # fmt: skip


@dataclass
class DemoIdP:
    url: str
    env: dict
    folder: Path
    processes: list = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"{self.url}/o"

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "demo_idp", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def register(self, *bases: str) -> None:
        """Allow Naravard's callbacks under these base URLs (and the test client's)."""
        args = ["demo_clients", "--redirect-base", "http://testserver"]
        for base in bases:
            args += ["--redirect-base", base]
        self.manage(*args)

    def start(self, port: int, key_file: Path) -> str:
        """Another process of the provider on `port`, signing with the key in `key_file`."""
        url = f"http://127.0.0.1:{port}"
        log = self.folder / f"idp-{port}.log"
        env = {**self.env, "DEMO_IDP_KEY_FILE": str(key_file)}
        with open(log, "ab") as out:
            proc = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "demo_idp", "runserver", f"127.0.0.1:{port}", "--noreload"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(proc)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/o/.well-known/openid-configuration", timeout=1)
                return url
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the demo provider did not start.\n{tail(log)}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)


@pytest.fixture(scope="session")
def demo_idp(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.conf import settings

    # The test database's owner (tests/conftest.py) makes the provider's database beside it.
    owner_url = settings.MIGRATION_DATABASE_URL
    name = f"{settings.DATABASES['default']['NAME']}_idp"
    with psycopg.connect(with_db(owner_url, "postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    folder = tmp_path_factory.mktemp("demo_idp")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DEMO_IDP_DATABASE_URL": with_db(owner_url, name),
        "DEMO_IDP_URL": url,
        "DEMO_IDP_KEY_FILE": str(folder / "signing_key.pem"),
    }
    idp = DemoIdP(url=url, env=env, folder=folder)
    try:
        idp.manage("migrate", "--noinput", "-v0")
        idp.register()
        idp.start(port, folder / "signing_key.pem")
        yield idp
    finally:
        idp.stop()
        with psycopg.connect(with_db(owner_url, "postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def provider_settings(idp: DemoIdP, kind: str, **overrides) -> dict:
    client_id, secret = CLIENTS[kind]
    return {"issuer": idp.issuer, "client_id": client_id, "client_secret": secret, **overrides}


@pytest.fixture
def oidc_providers(settings, demo_idp):
    """Naravard configured as `make run` configures it: both kinds at the demo provider."""
    settings.NARAVARD_OIDC_PROVIDERS = {
        kind: provider_settings(demo_idp, kind) for kind in ("citizen", "staff")
    }
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "actors.oidc.OIDCBackend",
    ]
    return settings.NARAVARD_OIDC_PROVIDERS


def sign_at_idp(authorize_url: str, number: str) -> str:
    """Follow Naravard's redirect to the provider, sign as `number`, and return the URL
    the provider sends the browser back to (Naravard's callback, with code and state)."""
    idp = requests.Session()
    response = idp.get(authorize_url, allow_redirects=True, timeout=10)
    assert "/sign/" in response.url, response.url
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)
    next_url = re.search(r'name="next" value="([^"]+)"', response.text).group(1)
    response = idp.post(
        urljoin(response.url, "/sign/"),
        data={
            "csrfmiddlewaretoken": token,
            "next": html.unescape(next_url),
            "number": number,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    response = idp.get(urljoin(authorize_url, response.headers["Location"]), allow_redirects=False)
    assert response.status_code == 302, response.text[:500]
    return response.headers["Location"]
