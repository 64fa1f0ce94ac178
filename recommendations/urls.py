from django.urls import path

from .api.home import HomeFeedApi
from .api.live_ticket import LiveTicketApi
from .api.product_events import ProductEventsApi

urlpatterns = [
    path("home/", HomeFeedApi.as_view(), name="home-feed"),
    path("live/ticket/", LiveTicketApi.as_view(), name="live-ticket"),
    path("products/<slug:slug>/events/", ProductEventsApi.as_view(), name="product-events"),
]
