from django.urls import path

from .simulator import deals_view, events_view, outage_view, user_offers_view

urlpatterns = [
    path("products/<slug:slug>/deals/", deals_view, name="simulator-deals"),
    path("products/<slug:slug>/outage/", outage_view, name="simulator-outage"),
    path("products/<slug:slug>/events/", events_view, name="simulator-events"),
    path("products/<slug:slug>/users/<str:username>/offers/", user_offers_view, name="simulator-user-offers"),
]
