"""`make bench`: our pages, API and sweeps at scale, each beside the raw SQL floor.

Reads are timed in-process with Django's test Client ("server time": the whole request
cycle, middleware and templates included, without a network), next to the same data
fetched by one psycopg query and by a minimal raw-SQL Django view (naravard/floor.py).
Writes need real concurrency, so they go to a gunicorn on 127.0.0.1 from four threads,
each with its own OAuth token. The data is first swept up to yesterday, as a running
installation's is (`catch_up`); the day's sweep is then measured inside a transaction
that is rolled back, so every run measures the same work. See docs/performance.md for figures.
"""

import base64
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, functions
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/naravard_bench"
BENCH_CLIENTS = 4
# What a run can measure (`manage.py bench --only`).
PARTS = frozenset({"pages", "api", "writes", "sweep"})


# --- the database ------------------------------------------------------------------------


def require_postgres(url: str) -> None:
    if urlsplit(url).scheme not in ("postgres", "postgresql", "pgsql"):
        raise ValueError("make bench needs PostgreSQL: set DATABASE_URL=postgres://...")


def ensure_database(url: str) -> bool:
    """Create the bench database if it is missing; True if it was made."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def psycopg_url() -> str:
    db = settings.DATABASES["default"]
    return (
        f"postgresql://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or 'localhost'}"
        f":{db['PORT'] or 5432}/{db['NAME']}"
    )


# --- timing ------------------------------------------------------------------------------


# The targets: our median over the minimal raw-SQL Django view's, and the sweep.
PAGE_TARGET, API_TARGET, SWEEP_TARGET_PER_MILLION = 5.0, 3.0, 30.0


@dataclass
class Row:
    what: str
    times: list[float] = field(default_factory=list)
    queries: str = ""
    floor_sql: "Row | None" = None
    floor_view: "Row | None" = None
    target: float = 0.0  # x raw view

    def verdict(self) -> str:
        ratio = self.median() / self.floor_view.median()
        return f"{'met' if ratio <= self.target else 'MISSED'} ({self.target:g}x)"

    def median(self) -> float:
        return statistics.median(self.times) * 1000

    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def timed(*series) -> list[Row]:
    """Time several series of calls, each `(what, calls, count_queries)`, interleaved: the
    i-th call of every series, then the (i+1)-th. A read and its floor are timed in turns,
    so a change on the machine while they run (a checkpoint, another job) falls on both
    alike instead of on whichever ran at that moment. Each call runs once untimed first.

    With count_queries, every call's SQL is counted and the range kept."""
    rows = [Row(what) for what, _calls, _count in series]
    counts = [set() for _ in series]
    for _what, calls, _count in series:
        calls[0]()
    for i in range(max(len(calls) for _what, calls, _count in series)):
        for row, found, (_what, calls, count_queries) in zip(rows, counts, series, strict=True):
            if i >= len(calls):
                continue
            if count_queries:
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    calls[i]()
                    row.times.append(time.perf_counter() - started)
                found.add(len(captured))
            else:
                started = time.perf_counter()
                calls[i]()
                row.times.append(time.perf_counter() - started)
    for row, found, (_what, _calls, count_queries) in zip(rows, counts, series, strict=True):
        if count_queries:
            # A plan changed since it was agreed or naming staff in its history costs one
            # query more; what matters is that no count grows with the plan's size.
            row.queries = f"{min(found)}" if len(found) == 1 else f"{min(found)}-{max(found)}"
    return rows


def local_client(**headers) -> Client:
    """A test client that looks like a browser on this machine (a host ALLOWED_HOSTS has)."""
    return Client(HTTP_HOST="127.0.0.1", **headers)


def ok(response, status=200):
    if response.status_code != status:
        raise AssertionError(f"{response.status_code} from {response.request['PATH_INFO']}")
    return response


# --- who reads -------------------------------------------------------------------------


@dataclass
class Cast:
    """The readers: one district nurse, sample patients with a login, one integration."""

    organisation: object
    nurse: object
    patients: list
    contracts: list
    patient_users: list
    api_credentials: list  # (client_id, secret) per bench client


def sample_cast(samples: int) -> Cast:
    """Sample plans spread over the data (a fixed pseudo-random order, so runs compare)."""
    from actors.api_clients import create_api_client
    from actors.models import ApiClient, Membership, User
    from contracts.models import Contract
    from patients.models import Patient

    # The first district nurse of the generated patients, and her unit (the vårdcentral).
    membership = (
        Membership.objects.active()
        .filter(user__email__startswith="distriktsskoterska.")
        .select_related("user", "organisation")
        .order_by("id")
        .first()
    )
    nurse, organisation = membership.user, membership.organisation
    contracts = list(
        Contract.objects.open()
        .visible_to_organisation(organisation)
        .annotate(shuffle=functions.MD5(functions.Cast("id", CharField())))
        .order_by("shuffle")
        .select_related("patient")[:samples]
    )
    users = []
    for contract in contracts:
        # Generated patients have no login; the bench gives its samples one (bench data,
        # like bench/data.py's bulk rows, so not through a service).
        patient = contract.patient
        if patient.user_id is None:
            user = User.objects.create(
                email=f"bench.patient.{patient.pk}@naravard.example",
                first_name=patient.given_name,
                last_name=patient.family_name,
            )
            Patient.objects.filter(pk=patient.pk).update(user=user)
            patient.user = user
        users.append(patient.user)
    credentials = []
    for n in range(1, BENCH_CLIENTS + 1):
        name = f"Bench client {n}"
        old = ApiClient.objects.filter(name=name).select_related("application").first()
        if old is not None:
            # The secret is stored hashed: start the client afresh to know it.
            application = old.application
            old.delete()
            application.delete()
        client, secret = create_api_client(name=name, organisation=organisation)
        credentials.append((client.application.client_id, secret))
    return Cast(organisation, nurse, [c.patient for c in contracts], contracts, users, credentials)


def token_body(client_id: str, secret: str) -> tuple[dict, str]:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"grant_type": "client_credentials", "scope": "read write"}, f"Basic {basic}"


def in_process_token(client_id: str, secret: str) -> str:
    body, basic = token_body(client_id, secret)
    response = local_client().post("/oauth/token/", body, HTTP_AUTHORIZATION=basic)
    return ok(response).json()["access_token"]


# --- reads -------------------------------------------------------------------------------


def bench_reads(cast: Cast, requests: int, parts=PARTS) -> list[Row]:
    pick = [i % len(cast.contracts) for i in range(requests)]
    staff = local_client()
    staff.force_login(cast.nurse)
    patient_clients = []
    for user in cast.patient_users:
        client = local_client()
        client.force_login(user)
        patient_clients.append(client)
    token = in_process_token(*cast.api_credentials[0])
    api = local_client(HTTP_AUTHORIZATION=f"Bearer {token}")
    raw = psycopg.connect(psycopg_url(), autocommit=True)

    def raw_sql(sql, params):
        return lambda: raw.execute(sql, params).fetchone()

    rows = []
    if "pages" in parts:
        rows += bench_pages(cast, pick, staff, patient_clients, raw_sql)
    if "api" in parts:
        rows += bench_api(cast, pick, requests, api, raw, raw_sql)
    raw.close()
    return rows


def bench_pages(cast, pick, staff, patient_clients, raw_sql) -> list[Row]:
    from bench import floor

    rows = []
    # Plan page, staff and patient, beside the raw plan query and raw plan view.
    plan_sql = [raw_sql(floor.PLAN_SQL, [cast.patients[i].pk]) for i in pick]
    plan_view = [lambda i=i: ok(staff.get(f"/bench/plan/{cast.patients[i].pk}/")) for i in pick]
    staff_page, patient_page, floor_sql, floor_view = timed(
        (
            "Plan page, staff",
            [lambda i=i: ok(staff.get(f"/patients/{cast.patients[i].pk}/plan/")) for i in pick],
            True,
        ),
        (
            "Plan page, patient (/my-plan/)",
            [lambda i=i: ok(patient_clients[i].get("/my-plan/")) for i in pick],
            True,
        ),
        ("", plan_sql, False),
        ("", plan_view, False),
    )
    for row in (staff_page, patient_page):
        row.floor_sql, row.floor_view, row.target = floor_sql, floor_view, PAGE_TARGET
        rows.append(row)
    return rows


def bench_api(cast, pick, requests, api, raw, raw_sql) -> list[Row]:
    from bench import floor
    from naravard.paging import encode_cursor

    rows = []
    # One contract through the API.
    detail, detail.floor_sql, detail.floor_view = timed(
        (
            "API contract read",
            [lambda i=i: ok(api.get(f"/api/v1/contracts/{cast.contracts[i].pk}/")) for i in pick],
            True,
        ),
        ("", [raw_sql(floor.CONTRACT_SQL, [cast.contracts[i].pk]) for i in pick], False),
        (
            "",
            [lambda i=i: ok(api.get(f"/bench/contracts/{cast.contracts[i].pk}/")) for i in pick],
            False,
        ),
    )
    detail.target = API_TARGET
    rows.append(detail)

    # The change feed: the first page, and a page deep into the history.
    deep = deep_cursor(raw, cast.organisation.pk)
    for label, cursor in (("page 1", (0, 0)), ("deep page", deep)):
        since = f"&since={encode_cursor(list(cursor))}" if cursor != (0, 0) else ""
        org = cast.organisation.pk
        url = f"/bench/changes/{org}/?txid={cursor[0]}&id={cursor[1]}&limit=100"
        row, row.floor_sql, row.floor_view = timed(
            (
                f"API change feed, {label}",
                [lambda s=since: ok(api.get(f"/api/v1/changes/?limit=100{s}"))] * requests,
                True,
            ),
            ("", [raw_sql(floor.CHANGES_SQL, [org, *cursor, 100])] * requests, False),
            ("", [lambda u=url: ok(api.get(u))] * requests, False),
        )
        row.target = API_TARGET
        rows.append(row)
    return rows


def deep_cursor(raw, organisation_id: int) -> tuple[int, int]:
    """A (txid, id) cursor 90% of the way through the organisation's events."""
    total = raw.execute("SELECT count(*) FROM contracts_event").fetchone()[0]
    row = raw.execute(
        "SELECT txid, id FROM contracts_event ORDER BY txid, id OFFSET %s LIMIT 1",
        [int(total * 0.9)],
    ).fetchone()
    return (row[0], row[1]) if row else (0, 0)


# --- writes against a real server ---------------------------------------------------------


@dataclass
class WriteResult:
    seconds: float = 0.0
    written: int = 0
    retries: int = 0
    lost: int = 0
    errors: list = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = dict(os.environ, NARAVARD_BENCH_VIEWS="0", DEBUG="0", SECURE_COOKIES="0")
    server = subprocess.Popen(  # noqa: S603 (fixed arguments)
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "naravard.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import requests

    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/health/", timeout=5)
            return server
        except requests.RequestException:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("the bench server did not start")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def bench_writes(cast: Cast, writes_per_client: int, contended: int = 2) -> WriteResult:
    """Four clients add commitments to the same few plans with If-Match; a 412 is retried
    with the fresh ETag. Afterwards every write that was answered 201 must be in the plan."""
    import requests

    from contracts.models import Commitment

    result = WriteResult()
    port = free_port()
    server = start_server(port)
    base = f"http://127.0.0.1:{port}"
    targets = [c.pk for c in cast.contracts[:contended]]
    run = secrets.token_hex(4)
    written: list[str] = []
    lock = threading.Lock()

    def client(n: int, client_id: str, secret: str):
        session = requests.Session()
        body, basic = token_body(client_id, secret)
        token = session.post(f"{base}/oauth/token/", data=body, headers={"Authorization": basic})
        session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        etags = {}
        for k in range(writes_per_client):
            pk = targets[k % len(targets)]
            what = f"Bench {run} client {n} write {k}"
            for _attempt in range(50):
                if pk not in etags:
                    etags[pk] = session.get(f"{base}/api/v1/contracts/{pk}/").headers["ETag"]
                answer = session.post(
                    f"{base}/api/v1/contracts/{pk}/commitments/",
                    json={"owner_kind": "patient", "what": what},
                    headers={"If-Match": etags[pk]},
                )
                if answer.status_code == 201:
                    etags[pk] = answer.headers["ETag"]
                    with lock:
                        written.append(what)
                    break
                del etags[pk]
                if answer.status_code == 412:
                    with lock:
                        result.retries += 1
                    continue
                with lock:
                    result.errors.append(answer.status_code)
                break

    threads = [
        threading.Thread(target=client, args=(n, *creds))
        for n, creds in enumerate(cast.api_credentials)
    ]
    try:
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result.seconds = time.perf_counter() - started
    finally:
        stop_server(server)
    result.written = len(written)
    present = set(
        Commitment.objects.filter(what__startswith=f"Bench {run} ").values_list("what", flat=True)
    )
    result.lost = len(set(written) - present)
    return result


# --- the sweep ---------------------------------------------------------------------------


@dataclass
class Sweeping:
    """Sweep runs until no late commitment is left waiting, as the worker does them: a
    run that meets a full batch is followed at once by one of the late rule alone."""

    times: list[float] = field(default_factory=list)
    late: int = 0
    rules: dict[str, float] = field(default_factory=dict)  # the first run's, by rule

    @property
    def total(self) -> float:
        return sum(self.times)


def sweep_until_done(now) -> Sweeping:
    from reminders import sweeps

    result, only = Sweeping(), None
    while True:
        started = time.perf_counter()
        made = sweeps.run_all(now, only=only, on_rule=None if only else result.rules.__setitem__)
        result.times.append(time.perf_counter() - started)
        result.late += made.get(sweeps.LATE_RULE, {}).get("late", 0)
        if not sweeps.backlog_left(made):
            return result
        only = [sweeps.LATE_RULE]


def catch_up() -> Sweeping:
    """Bring the data to where a running installation stands: swept up to yesterday.

    Generated plans have never been swept, so their late commitments (about three a
    plan) have no tasks, which no installation that runs its sweeps every five minutes
    ever has. This sweeps as of yesterday, committed, in the worker's bounded runs. On
    new data that is the backlog of a bulk import of late plans, printed as such; later
    it only has the days since the last bench."""
    return sweep_until_done(timezone.now() - timedelta(days=1))


def catch_up_line(result: Sweeping, plans: int) -> str:
    return (
        f"Catch-up, swept as of yesterday first: {result.late:,} late commitments made into "
        f"tasks in {len(result.times)} run(s), {result.total:.1f} s "
        f"({result.total / max(plans, 1) * 1_000_000:.0f} s per 1,000,000 plans), longest "
        f"run {max(result.times):.1f} s."
    )


def bench_sweep() -> tuple[Sweeping, float, int]:
    """Every reminder rule over all the data, rolled back afterwards so that every run
    measures the same work.

    The first sweep of a day, as of now on data swept up to yesterday: a day's worth of
    commitments become late at once, and it runs until none is left waiting. Then the
    same sweep again: the steady state of a sweep every few minutes."""
    from contracts.models import Contract
    from reminders import sweeps

    contracts = Contract.objects.open().count()
    with transaction.atomic():
        now = timezone.now()
        daily = sweep_until_done(now)
        started = time.perf_counter()
        sweeps.run_all(now)
        repeat = time.perf_counter() - started
        transaction.set_rollback(True)
    return daily, repeat, contracts


def machine() -> str:
    """What the figures were measured on, for docs/performance.md."""
    import platform

    import django

    cpu = ""
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if "model name" in line), "")
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = 0
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    return (
        f"Machine: {os.cpu_count()} cores ({cpu or platform.machine()}), {memory:.0f} GiB; "
        f"PostgreSQL {server}, Python {platform.python_version()}, "
        f"Django {django.get_version()}; load average {os.getloadavg()[0]:.1f}."
    )


# --- the table ---------------------------------------------------------------------------


def read_table(rows: list[Row]) -> list[str]:
    head = (
        f"{'read':<32} {'median':>8} {'p95':>8} {'queries':>7} {'raw SQL':>8} "
        f"{'raw view':>8} {'x SQL':>6} {'x view':>6}  target"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row.what:<32} {row.median():>6.1f}ms {row.p95():>6.1f}ms {row.queries:>7} "
            f"{row.floor_sql.median():>6.2f}ms {row.floor_view.median():>6.1f}ms "
            f"{row.median() / row.floor_sql.median():>6.1f} "
            f"{row.median() / row.floor_view.median():>6.1f}  {row.verdict()}"
        )
    return lines


def run(
    *, requests: int, samples: int, writes: int, parts=PARTS, out, caught_up: Sweeping = None
) -> dict:
    """Measure everything on the data in the current database and print the table;
    `caught_up` is what `catch_up` did to it first."""
    from contracts.models import Commitment, Contract

    plans = Contract.objects.open().count()
    out(machine())
    out(f"Data: {plans:,} open plans, {Commitment.objects.count():,} commitments.")
    if caught_up:
        out(catch_up_line(caught_up, plans))
    cast = sample_cast(samples)
    figures = {}
    if parts & {"pages", "api"}:
        with override_settings(ROOT_URLCONF="bench.urls"):
            rows = bench_reads(cast, requests, parts)
        out("")
        out(f"Reads: server time in-process (Django test Client), {requests} requests each,")
        out(f"over {len(cast.contracts)} sample plans; ratios are medians over the floor.")
        for line in read_table(rows):
            out(line)
        figures["reads"] = rows
    if "writes" in parts:
        result = bench_writes(cast, writes)
        out("")
        out(
            f"API writes (POST commitment with If-Match, {BENCH_CLIENTS} clients, gunicorn "
            f"2 workers x 4 threads on 127.0.0.1, 2 contended plans): {result.written} writes "
            f"in {result.seconds:.1f} s = {result.written / result.seconds:.1f}/s; "
            f"{result.retries} 412 retries; lost updates: {result.lost}; "
            f"other errors: {len(result.errors)}"
        )
        figures["writes"] = result
    if "sweep" not in parts:
        return figures
    daily, repeat, contracts = bench_sweep()
    measured = "measured" if contracts >= 1_000_000 else "extrapolated linearly"
    out("")
    out(f"Reminder sweep over {contracts:,} open plans (measured; per 100k / 1M {measured}):")
    runs = f"{len(daily.times)} run{'s' if len(daily.times) > 1 else ''}"
    rows = (
        (f"first of the day ({runs})", daily.total),
        ("repeat run (steady)", repeat),
    )
    for label, seconds in rows:
        per_million = seconds / max(contracts, 1) * 1_000_000
        verdict = "met" if per_million < SWEEP_TARGET_PER_MILLION else "MISSED"
        out(
            f"  {label:<24} {seconds:7.2f} s   per 100,000: {per_million / 10:6.1f} s"
            f"   per 1,000,000: {per_million:6.1f} s   target < 30 s: {verdict}"
        )
    out(f"  The first of the day made {daily.late:,} late commitments into tasks; by rule:")
    out("  " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in daily.rules.items()))
    figures["sweep"] = (daily, repeat, contracts)
    return figures
