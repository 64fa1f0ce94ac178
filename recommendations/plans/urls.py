from django.urls import path

from .api import PlanQuestionsApi, PlansFilterApi

# Included at api/v1/plans/ (homeservice/urls.py); `select/` belongs to the interactions app.
urlpatterns = [
    path("questions/", PlanQuestionsApi.as_view(), name="plan-questions"),
    path("filter/", PlansFilterApi.as_view(), name="plans-filter"),
]
