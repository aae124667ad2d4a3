import sys

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.cache import never_cache

from actors.models import Membership
from naravard import faults, readiness
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


# --- errors the site answers itself -----------------------------------------------------


def server_error(request):
    """handler500: what could not be answered. When the cause is the database's state
    (down, busy, too slow; naravard.faults) the answer is 503 with Retry-After, in the
    form the door speaks: a problem for the REST API, an OperationOutcome for FHIR, a
    message for an htmx request, a page for people. Anything else stays a 500.

    Django calls this while the exception is being handled, so sys.exc_info() holds it;
    nothing here touches the database."""
    exc = sys.exc_info()[1]
    fault = faults.classify(exc)
    if fault is None:
        return defaults.server_error(request)
    headers = {"Retry-After": str(fault.retry_after)}
    if request.path.startswith(("/api/", "/fhir/")):
        from fhir_r4.views import outcome
        from naravard.problems import to_problem

        problem = to_problem(exc)
        if request.path.startswith("/fhir/"):
            body, content_type = outcome(problem), "application/fhir+json"
        else:
            body, content_type = problem.as_json(request.path), "application/problem+json"
        return JsonResponse(body, status=fault.status, headers=headers, content_type=content_type)
    if request.headers.get("HX-Request") == "true":
        # Into the page's alert region (base.html), whatever the request was to replace.
        headers |= {"HX-Retarget": "#site-alert", "HX-Reswap": "innerHTML"}
        html = loader.render_to_string("503.html#alert", {"fault": fault})
    else:
        html = loader.render_to_string("503.html", {"fault": fault, "again": _again(request)})
    return HttpResponse(html, status=fault.status, headers=headers)


def bad_request(request, exception):
    """handler400: Django's refusal of a request before or outside a view (too many fields,
    a bad Host, a suspicious header). The integrator doors answer it in their own shape,
    as every other error (naravard.problems); pages keep Django's page."""
    if not request.path.startswith(("/api/", "/fhir/")):
        return defaults.bad_request(request, exception)
    from rest_framework.exceptions import ParseError

    from fhir_r4.views import outcome
    from naravard.problems import to_problem

    problem = to_problem(exception) or to_problem(ParseError())
    if request.path.startswith("/fhir/"):
        body, content_type = outcome(problem), "application/fhir+json"
    else:
        body, content_type = problem.as_json(request.path), "application/problem+json"
    return JsonResponse(body, status=problem.status, content_type=content_type)


def _again(request) -> str:
    """Where "Try again" leads: the page itself, or for a form the page it was sent from."""
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    referer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(referer, {request.get_host()}, request.is_secure()):
        return referer
    return "/"


# --- for load balancers and orchestrators -----------------------------------------------


def health(request):
    """Alive: the process answers requests. Touches nothing else, so that a database
    outage does not get every web process restarted (that is /ready/'s business)."""
    return JsonResponse({"status": "ok"})


def ready(request):
    """Ready for traffic: the database answers and has every migration applied, and the
    broker (Redis) answers. 503 with Retry-After and the failing checks otherwise."""
    checks = readiness.checks()
    ok = readiness.ready(checks)
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks},
        status=200 if ok else 503,
        headers={} if ok else {"Retry-After": "30"},
    )
