"""The organisation administrator's page of push subscriptions."""

from django.urls import path

from . import views

app_name = "push"
urlpatterns = [
    path("organisation/subscriptions/", views.subscriptions, name="subscriptions"),
    path("organisation/subscriptions/<int:pk>/turn-on/", views.turn_on, name="turn_on"),
    path("organisation/subscriptions/<int:pk>/turn-off/", views.turn_off, name="turn_off"),
]
