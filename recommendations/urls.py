from django.urls import path

from .api.home import HomeFeedApi
from .api.product_events import ProductEventsApi

urlpatterns = [
    path("home/", HomeFeedApi.as_view(), name="home-feed"),
    path("products/<slug:slug>/events/", ProductEventsApi.as_view(), name="product-events"),
]
