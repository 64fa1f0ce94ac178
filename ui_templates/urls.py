from django.urls import path

from .api import UiCatalogueApi, UiSchemaApi

urlpatterns = [
    path("schema/", UiSchemaApi.as_view(), name="ui-schema"),
    path("catalogue/", UiCatalogueApi.as_view(), name="ui-catalogue"),
]
