from django.urls import path

from .api import UiCatalogueApi, UiSchemaApi
from .authoring_api import TemplateDraftApi, TemplatePublishApi, TemplateValidateApi

urlpatterns = [
    path("schema/", UiSchemaApi.as_view(), name="ui-schema"),
    path("catalogue/", UiCatalogueApi.as_view(), name="ui-catalogue"),
    path("templates/validate/", TemplateValidateApi.as_view(), name="ui-template-validate"),
    path("templates/<slug:key>/draft/", TemplateDraftApi.as_view(), name="ui-template-draft"),
    path("templates/<slug:key>/publish/", TemplatePublishApi.as_view(), name="ui-template-publish"),
]
