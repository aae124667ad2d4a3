"""The site's URLs plus the raw-SQL floor views, for `manage.py bench` only.

The bench makes this the ROOT_URLCONF for its own in-process requests; importing it
without NARAVARD_BENCH_VIEWS on is refused, so it cannot be switched on by accident."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import path

from . import bench_views
from .urls import urlpatterns as site_urlpatterns

if not getattr(settings, "NARAVARD_BENCH_VIEWS", False):
    raise ImproperlyConfigured("naravard.bench_urls needs NARAVARD_BENCH_VIEWS=1 (bench only).")

urlpatterns = [
    path("bench/plan/<int:patient_id>/", bench_views.plan),
    path("bench/contracts/<int:contract_id>/", bench_views.contract),
    path("bench/changes/<int:organisation_id>/", bench_views.changes),
    *site_urlpatterns,
]
