"""`manage.py bench` on a handful of plans: it prints its table, and no read's query count
grows with the plan. No timings are asserted: figures belong in docs/performance.md."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bench import data
from bench import measure as bench
from contracts.models import Commitment, Contract, OwnerKind

pytestmark = pytest.mark.django_db

READS = (
    "Plan page, staff",
    "Plan page, patient (/my-plan/)",
    "API contract read",
    "API change feed, page 1",
    "API change feed, deep page",
)


@pytest.fixture
def bench_views_on(settings):
    settings.NARAVARD_BENCH_VIEWS = True


def run_bench() -> tuple[str, dict]:
    out = StringIO()
    figures = bench.run(
        requests=3, samples=3, writes=0, parts={"pages", "api", "sweep"}, out=out.write
    )
    return out.getvalue(), {row.what: row.queries for row in figures["reads"]}


def test_bench_prints_reads_beside_the_raw_sql_floor(bench_views_on):
    data.seed(patients=3, commitments_min=2, commitments_max=4, log=lambda *args: None)
    out = StringIO()
    call_command(
        "bench", "--here", "--no-server", "--patients", "3", "--requests", "3", "--samples", "3",
        stdout=out,
    )  # fmt: skip
    table = out.getvalue()
    assert "raw SQL" in table and "raw view" in table
    for read in READS:
        assert read in table
    assert table.count("(5x)") == 2 and table.count("(3x)") == 3  # each read's target
    assert "Reminder sweep over" in table and "target < 30 s" in table
    assert "first of the day" in table and "Catch-up, swept as of yesterday" in table
    assert table.startswith("Machine: ") and " cores (" in table


def test_bench_query_counts_do_not_grow_with_the_plan(bench_views_on):
    data.seed(patients=3, commitments_min=1, commitments_max=1, log=lambda *args: None)
    _, small = run_bench()
    # Fifty more commitments on every plan: the same pages must cost the same queries.
    Commitment.objects.bulk_create(
        Commitment(contract=contract, owner_kind=OwnerKind.PATIENT, what=f"Walk {n}")
        for contract in Contract.objects.open()
        for n in range(50)
    )
    _, large = run_bench()
    assert set(small) == set(READS)
    assert large == small


def test_bench_measures_only_what_it_is_asked(bench_views_on):
    data.seed(patients=3, commitments_min=2, commitments_max=4, log=lambda *args: None)
    out = StringIO()
    call_command(
        "bench", "--here", "--only", "api", "--patients", "3", "--requests", "3",
        "--samples", "3", stdout=out,
    )  # fmt: skip
    table = out.getvalue()
    assert "API contract read" in table
    assert "Plan page, staff" not in table and "Reminder sweep over" not in table
    with pytest.raises(CommandError, match="--only"):
        call_command("bench", "--here", "--only", "everything", stdout=StringIO())
