"""The template admin for marketers: edit a draft, preview it, publish, roll back, schedule.

Thin: every write goes through ``services.py``; the preview renders a demo user's whole feed
through the real pipeline (the provider ``recommendations`` registers in ``hooks.py``).
"""

from __future__ import annotations

import difflib
import json
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from homeservice.errors import ApplicationError, error_body

from . import hooks, services
from .admin_forms import FORM, RAW, ComponentTemplateForm, editor_mode, stored_tree
from .catalogue import CATALOGUE_VERSION
from .compat import min_client_version
from .models import ComponentTemplate, TemplateEvent, TemplateVersion
from .selectors import published_templates
from .template_set import TemplateEntry

PUBLISH_PERMISSION = "ui_templates.publish_componenttemplate"


def _pretty(tree: Any) -> str:
    return json.dumps(tree, indent=2, sort_keys=True, ensure_ascii=False)


def tree_diff(old: Any, new: Any, *, old_name: str, new_name: str) -> str:
    """A unified diff of two trees, as indented JSON with sorted keys (empty: no difference)."""
    lines = difflib.unified_diff(
        _pretty(old).splitlines(), _pretty(new).splitlines(), fromfile=old_name, tofile=new_name, lineterm=""
    )
    return "\n".join(lines)


def _client_versions(feed: dict[str, Any]) -> dict[str, Any]:
    needed = max((min_client_version(s["component"]) for s in feed.get("sections", [])), default=1)
    return {"renders_fully_from": needed, "with_fallbacks": list(range(1, needed)), "newest": CATALOGUE_VERSION}


def _issue_messages(request: HttpRequest, exc: ApplicationError) -> None:
    messages.error(request, exc.message)
    for issue in (exc.details or {}).get("issues", [])[1:10]:
        messages.error(request, f"{issue['path']}: {issue['message']}")


@admin.register(ComponentTemplate)
class ComponentTemplateAdmin(admin.ModelAdmin):
    form = ComponentTemplateForm
    change_form_template = "admin/ui_templates/componenttemplate/change_form.html"
    list_display = ("name", "key", "slot", "product_slug", "published_version", "updated_at")
    list_filter = ("slot",)
    search_fields = ("name", "key", "product_slug")
    readonly_fields = ("published_version",)

    def get_readonly_fields(self, request: HttpRequest, obj: ComponentTemplate | None = None) -> Any:
        # Other templates include this one by key: it stays fixed once created.
        return ("key", *self.readonly_fields) if obj else self.readonly_fields

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        # The editor mode the page asked for (``?editor=raw`` or the form, the default).
        return type(form.__name__, (form,), {"editor": editor_mode(request.GET.get("editor"))})

    def _keep_editor(self, request: HttpRequest, response: Any) -> Any:
        """Back to the change page in raw mode after saving in raw mode."""
        if editor_mode(request.GET.get("editor")) == RAW and isinstance(response, HttpResponseRedirect):
            location = response["Location"]
            if ("/change/" in location or location.endswith("/add/")) and "editor=" not in location:
                response["Location"] = f"{location}{'&' if '?' in location else '?'}editor=raw"
        return response

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PUBLISH_PERMISSION)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/versions/", wrap(self.versions_view), name="ui_templates_componenttemplate_versions"),
            path("<int:pk>/preview/", wrap(self.preview_view), name="ui_templates_componenttemplate_preview"),
            path(
                "<int:pk>/unpublish/",
                wrap(require_POST(self.unpublish_view)),
                name="ui_templates_componenttemplate_unpublish",
            ),
            path(
                "<int:pk>/versions/<int:version_pk>/rollback/",
                wrap(require_POST(self.rollback_view)),
                name="ui_templates_componenttemplate_rollback",
            ),
            path(
                "<int:pk>/versions/<int:version_pk>/schedule/",
                wrap(require_POST(self.schedule_view)),
                name="ui_templates_componenttemplate_schedule",
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any | None = None,
    ) -> HttpResponse:
        context["can_publish"] = self.has_publish_permission(request)
        provider = hooks.preview_provider()
        context["preview_users"] = list(provider.users) if provider else []
        form = context["adminform"].form
        if "draft_tree" in form.fields:
            context["editor_shown"] = form.editor_shown
            context["editor_fallback"] = form.editor_fallback
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    # --- save, and "Publish draft" -----------------------------------------------------------
    def response_add(self, request: HttpRequest, obj: ComponentTemplate, post_url_continue: str | None = None) -> Any:
        if "_publish" in request.POST:
            return self._keep_editor(request, self._publish_draft(request, obj))
        return self._keep_editor(request, super().response_add(request, obj, post_url_continue))

    def response_change(self, request: HttpRequest, obj: ComponentTemplate) -> Any:
        if "_publish" in request.POST:
            return self._keep_editor(request, self._publish_draft(request, obj))
        return self._keep_editor(request, super().response_change(request, obj))

    def _change_url(self, obj: ComponentTemplate) -> str:
        return reverse("admin:ui_templates_componenttemplate_change", args=[obj.pk])

    def _publish_draft(self, request: HttpRequest, obj: ComponentTemplate) -> HttpResponseRedirect:
        if not self.has_publish_permission(request):
            messages.error(request, "The draft was saved, but you may not publish templates.")
            return HttpResponseRedirect(self._change_url(obj))
        try:
            event = services.template_draft_publish(template=obj, user=request.user)
        except ApplicationError as exc:
            _issue_messages(request, exc)
        else:
            assert event.version is not None
            messages.success(request, f"The draft was saved and published as version {event.version.number}.")
        return HttpResponseRedirect(self._change_url(obj))

    # --- versions, history, roll back, withdraw, schedule ----------------------------------------
    def _template(self, request: HttpRequest, pk: int, *, publish: bool = False) -> ComponentTemplate:
        template = get_object_or_404(ComponentTemplate, pk=pk)
        if not self.has_view_or_change_permission(request, template):
            raise PermissionDenied
        if publish and not self.has_publish_permission(request):
            raise PermissionDenied
        return template

    def versions_view(self, request: HttpRequest, pk: int) -> TemplateResponse:
        template = self._template(request, pk)
        versions = list(template.versions.select_related("created_by").order_by("-number"))
        rows = []
        for index, version in enumerate(versions):
            previous = versions[index + 1] if index + 1 < len(versions) else None
            rows.append(
                {
                    "version": version,
                    "live": version.pk == template.published_version_id,
                    "diff_previous": tree_diff(
                        previous.tree if previous else {},
                        version.tree,
                        old_name=f"v{previous.number}" if previous else "(nothing)",
                        new_name=f"v{version.number}",
                    ),
                    "diff_draft": tree_diff(
                        version.tree, template.draft_tree, old_name=f"v{version.number}", new_name="draft"
                    ),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": template,
            "title": f"Versions and history of {template}",
            "rows": rows,
            "events": template.events.select_related("actor", "version")[:200],
            "can_publish": self.has_publish_permission(request),
        }
        return TemplateResponse(request, "admin/ui_templates/componenttemplate/versions.html", context)

    def rollback_view(self, request: HttpRequest, pk: int, version_pk: int) -> HttpResponseRedirect:
        template = self._template(request, pk, publish=True)
        version = get_object_or_404(TemplateVersion, pk=version_pk, template=template)
        try:
            services.template_rollback(template=template, version=version, user=request.user)
        except ApplicationError as exc:
            _issue_messages(request, exc)
        else:
            messages.success(request, f"Version {version.number} is live again.")
        return HttpResponseRedirect(reverse("admin:ui_templates_componenttemplate_versions", args=[pk]))

    def unpublish_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        template = self._template(request, pk, publish=True)
        try:
            if services.template_unpublish(template=template, user=request.user):
                messages.success(request, "The template was withdrawn; its slot shows the default template again.")
        except ApplicationError as exc:
            _issue_messages(request, exc)
        return HttpResponseRedirect(reverse("admin:ui_templates_componenttemplate_versions", args=[pk]))

    def schedule_view(self, request: HttpRequest, pk: int, version_pk: int) -> HttpResponseRedirect:
        template = self._template(request, pk, publish=True)
        version = get_object_or_404(TemplateVersion, pk=version_pk, template=template)

        def moment(name: str) -> datetime | None:
            parsed = parse_datetime(request.POST.get(name, ""))
            if parsed is not None and timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed)
            return parsed

        try:
            services.template_schedule(
                version=version, publish_at=moment("publish_at"), unpublish_at=moment("unpublish_at"), user=request.user
            )
        except ApplicationError as exc:
            _issue_messages(request, exc)
        else:
            messages.success(request, f"The schedule of version {version.number} was saved.")
        return HttpResponseRedirect(reverse("admin:ui_templates_componenttemplate_versions", args=[pk]))

    # --- preview -------------------------------------------------------------------------------
    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponseBase:
        """The draft and the published feed of a demo user (HTML, or JSON with ``format=json``).

        A POST of ``{"tree": ..., "editor": "form"|"raw"}`` previews that tree instead of the
        saved draft, without saving it: the editor's visual preview follows unsaved edits.

        A tree the sandbox refuses, or whose dry render goes over the render budget, is answered
        400 ``template_invalid`` (naming the path) and not rendered for the preview at all;
        other problems are listed beside the preview.
        """
        template = self._template(request, pk)
        tree = template.draft_tree
        if request.method == "POST":
            try:
                posted = json.loads(request.body)
                tree = posted["tree"]
            except (ValueError, TypeError, KeyError):
                return JsonResponse(error_body("parse_error", 'Send {"tree": <the draft tree>} as JSON.'), status=400)
            tree = stored_tree(tree) if posted.get("editor") == FORM else tree
        provider = hooks.preview_provider()
        users = provider.users if provider else ()
        username = request.GET.get("user") or (users[0] if users else "")
        published = published_templates()
        draft = TemplateEntry(
            key=template.key,
            version_tag="draft",
            tree=tree,
            slot=template.slot,
            product_slug=template.product_slug,
        )
        issues = services.template_check_tree(template=template, tree=tree)
        result: dict[str, Any] = {"user": username, "users": list(users), "issues": [i.as_dict() for i in issues]}
        if any(issue.refused for issue in issues):
            refused = services.template_invalid_error(issues)
            if request.GET.get("format") == "json" or request.method == "POST":
                return JsonResponse(error_body(refused.code, refused.message, refused.details), status=400)
            result["error"] = refused.message
        elif provider is None or username not in users:
            result["error"] = "No preview for this user." if provider else "No preview provider is installed."
        else:
            for name, template_set in (("published", published), ("draft", published.with_entry(draft))):
                try:
                    result[name] = provider.render(username=username, template_set=template_set)
                except Exception as exc:  # e.g. no such demo user: say so rather than fail the page
                    result["error"] = f"The {name} preview could not be rendered: {exc}"
            if "draft" in result:
                result["client_versions"] = _client_versions(result["draft"])
        if request.GET.get("format") == "json" or request.method == "POST":
            return JsonResponse(result)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": template,
            "title": f"Preview of {template}",
            "result": result,
            "draft_json": _pretty(result["draft"]) if "draft" in result else "",
            "published_json": _pretty(result["published"]) if "published" in result else "",
        }
        status = 400 if any(issue.refused for issue in issues) else 200
        return TemplateResponse(request, "admin/ui_templates/componenttemplate/preview.html", context, status=status)


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TemplateVersion)
class TemplateVersionAdmin(_ReadOnlyAdmin):
    list_display = ("template", "number", "created_by", "created_at", "publish_at", "unpublish_at")
    list_select_related = ("template", "created_by")


@admin.register(TemplateEvent)
class TemplateEventAdmin(_ReadOnlyAdmin):
    list_display = ("template", "action", "version", "actor", "created_at")
    list_filter = ("action",)
    list_select_related = ("template", "version", "actor")
