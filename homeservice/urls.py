from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from recommendations.interactions import api as interactions_api
from webclient import views as webclient_views

from . import auth_api, health, metrics
from .throttling import posts_throttled_by_address

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    # The admin's login, its POSTs throttled per address like the token endpoint (docs/api.md).
    path("admin/login/", posts_throttled_by_address("login")(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", auth_api.TokenObtainApi.as_view(), name="token-obtain"),
    path("api/v1/auth/token/refresh/", auth_api.TokenRefreshApi.as_view(), name="token-refresh"),
    path("api/v1/auth/logout/", auth_api.LogoutApi.as_view(), name="auth-logout"),
    path("api/v1/", include("recommendations.urls")),
    path("api/v1/ui/", include("ui_templates.urls")),
    path("api/v1/plans/select/", interactions_api.PlanSelectApi.as_view(), name="plan-select"),
    path("api/v1/events/", interactions_api.InteractionEventsApi.as_view(), name="interaction-events"),
    path("api/v1/plans/", include("recommendations.plans.urls")),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="openapi-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="openapi-schema", permission_classes=[]),
        name="api-docs",
    ),
    # The reference web client (webclient/, docs/web-client.md).
    path("", webclient_views.index, name="web-client"),
]

if settings.PRODUCT_SIMULATOR_ENABLED:
    urlpatterns += [path("simulator/", include("products.simulator_urls"))]

handler400 = "homeservice.errors.bad_request"
handler403 = "homeservice.errors.permission_denied"
handler404 = "homeservice.errors.page_not_found"
handler500 = "homeservice.errors.server_error"
