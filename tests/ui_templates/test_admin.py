import pytest

from ui_templates.models import ComponentTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-123456")
    client.force_login(admin)
    return client


def _post(staff_client, tree: str):
    return staff_client.post(
        "/admin/ui_templates/componenttemplate/add/",
        {"name": "Deals", "slot": "product.generic", "product_slug": "", "tree": tree, "active": "on"},
    )


def test_a_template_that_renders_with_sample_data_is_saved(staff_client):
    response = _post(staff_client, '{"type": "text", "id": "${section_id}", "props": {"text": "${product.name}"}}')
    assert response.status_code == 302
    assert ComponentTemplate.objects.get().tree["type"] == "text"


def test_a_template_that_does_not_render_is_refused_with_the_reason(staff_client):
    response = _post(staff_client, '{"type": "text", "props": {"text": "${offers[0].title}"}}')
    assert response.status_code == 200
    assert "does not render with sample data" in response.content.decode()
    assert not ComponentTemplate.objects.exists()
