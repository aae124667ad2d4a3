from django.urls import path

from . import views

app_name = "actors"
urlpatterns = [
    path("login/code/", views.request_code, name="request_code"),
    path("login/code/enter/", views.enter_code, name="enter_code"),
]
