"""The site's URLs plus the raw-SQL floor views, for `manage.py bench` only.

The bench makes this the ROOT_URLCONF for its own in-process requests; importing it
without NARAVARD_BENCH_VIEWS on is refused, so it cannot be switched on by accident."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import path

from naravard.urls import urlpatterns as site_urlpatterns

from . import floor

if not getattr(settings, "NARAVARD_BENCH_VIEWS", False):
    raise ImproperlyConfigured("bench.urls needs NARAVARD_BENCH_VIEWS=1 (bench only).")

urlpatterns = [
    path("bench/plan/<int:patient_id>/", floor.plan),
    path("bench/contracts/<int:contract_id>/", floor.contract),
    path("bench/changes/<int:organisation_id>/", floor.changes),
    *site_urlpatterns,
]
