from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from actors.models import Membership
from patients.models import Patient, Relative


@login_required
@never_cache
def home(request):
    """Send each kind of user to where they start: patients to their plan, staff to
    their worklist, relatives to the patients who let them follow their plan."""
    user = request.user
    if Patient.objects.filter(user=user).exists():
        return redirect("contracts:my_plan")
    if Membership.objects.active().filter(user=user).exists():
        return redirect("patients:worklist")
    relatives = (
        Relative.objects.filter(user=user)
        .exclude(access=Relative.Access.NONE)
        .select_related("patient")
        .order_by("patient__family_name", "patient__given_name")
    )
    return render(request, "home.html", {"relatives": relatives})


def health(request):
    """For load balancers: the process is up and reaches its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
