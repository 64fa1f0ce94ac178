from django.urls import path

from .api.home import HomeFeedApi

urlpatterns = [
    path("home/", HomeFeedApi.as_view(), name="home-feed"),
]
