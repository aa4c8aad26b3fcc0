"""The service loads nothing from outside the hospital's network: no documentation page pulling Swagger UI or
ReDoc from a CDN. The OpenAPI document itself is served, without authentication (it describes shapes, holds no
data), as the README says."""

import re

import pytest

EXTERNAL_ASSET = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_documentation_page_that_loads_a_cdn(client, path):
    assert client.get(path).status_code == 404


def test_no_html_page_of_the_service_loads_anything_from_another_host(client):
    pages = [route.path for route in client.app.routes
             if "GET" in getattr(route, "methods", ()) and "{" not in route.path]
    assert "/openapi.json" in pages
    for path in pages:
        response = client.get(path)
        if response.headers.get("content-type", "").startswith("text/html"):
            assert not EXTERNAL_ASSET.search(response.text), path


def test_the_openapi_document_is_served_without_authentication_even_when_calls_need_it(settings, knowledge, tmp_path):
    from fastapi.testclient import TestClient

    from cds_service.app import create_app
    from tests.jwt_helpers import write_issuers

    auth = settings.model_copy(update={"auth_required": True, "trusted_issuers_file": str(write_issuers(tmp_path))})
    with TestClient(create_app(auth, knowledge)) as client:
        assert client.get("/cds-services").status_code == 401
        document = client.get("/openapi.json")
        assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
