"""Staff pages about patients: the worklist."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from actors.models import Membership
from contracts import selectors
from patients.access import log_patients_listed

PER_PAGE = 25


@login_required
@never_cache
def worklist(request):
    """The patients on the care team of any of the user's organisations."""
    memberships = list(Membership.objects.active().filter(user=request.user))
    if not memberships:
        raise PermissionDenied
    mine = request.GET.get("show") == "mine"
    query = request.GET.get("q", "")[:100]
    patients = selectors.worklist(request.user, mine=mine, query=query)
    rows = Paginator(patients, PER_PAGE).get_page(request.GET.get("page"))
    # Names and identity numbers on a list are a read of patient data (PDL).
    log_patients_listed(
        user=request.user, memberships=memberships, patient_ids=[p.pk for p in rows]
    )
    # The pager keeps the filter and the search on every page.
    kept = {key: value for key, value in (("show", "mine" if mine else ""), ("q", query)) if value}
    context = {"rows": rows, "mine": mine, "query": query, "kept": urlencode(kept)}
    context["now"] = timezone.now()
    return render(request, "patients/worklist.html", context)
