"""In the browser: an organisation's administrator sees a subscription turned off after
repeated failure and turns it back on, on an accessible page."""

import pytest
from api_fixtures import integrations
from personas import make_staff

from actors.models import Role
from push import services
from push.models import Subscription

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["integrations"]


def test_an_admin_turns_a_failed_subscription_back_on(
    page, login_as, assert_accessible, integrations, network, settings
):
    settings.PUSH_ALLOW_LOOPBACK = True
    subscription = services.create_subscription(
        client=integrations["vardcentral"],
        kind=Subscription.Kind.WEBHOOK,
        endpoint="http://127.0.0.1:9/hooks",
    )
    services.turn_off(subscription)
    Subscription.objects.filter(pk=subscription.pk).update(failures=12, last_error="HTTP 503")
    admin = make_staff("admin@example.org", network["vardcentral"], Role.ORG_ADMIN)
    login_as(page, admin)
    page.goto("/organisation/subscriptions/")
    assert page.locator("main").get_by_text("Turned off", exact=True).count() == 1
    assert page.locator("main").get_by_text("HTTP 503").count() == 1
    assert_accessible(page)
    page.get_by_role("button", name="Turn back on").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Turn off").count() == 1
    assert_accessible(page)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
