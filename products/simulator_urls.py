from django.urls import path

from .simulator import deals_view

urlpatterns = [
    path("products/<slug:slug>/deals/", deals_view, name="simulator-deals"),
]
