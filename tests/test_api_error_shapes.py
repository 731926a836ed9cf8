"""Every read endpoint answers bad or extreme parameters with a documented status and body shape:
422 is FastAPI's list of bad parameters (HTTPValidationError), 400/404 one line (ErrorResponse),
never a 500. The fuzzing in test_schemathesis.py finds such cases at random; these are the ones it
found, kept as fast, fixed examples."""

from __future__ import annotations

import pytest

from conftest import API_READ_KEY

H = {"Authorization": f"Bearer {API_READ_KEY}"}


def _documented(client, path: str, status: int) -> str:
    """The schema name the OpenAPI document gives `status` of GET `path`."""
    responses = client.app.openapi()["paths"][path]["get"]["responses"]
    assert str(status) in responses, f"{path} answers {status}, which it does not document"
    return responses[str(status)]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


@pytest.mark.parametrize("query", ["=null", "by=cohort&=null", "as_of=9999-12-31", "as_of=0001-01-01",
                                   "as_of=1528-04-09", "as_of=2000-02-30", "months=0", "months=61", "by=planet",
                                   "as_of=2199-12-31", "as_of=1900-01-01&months=60"])
def test_retention_validates_like_the_other_read_endpoints(api_client, query):
    client, _ = api_client
    r = client.get(f"/api/retention?{query}", headers=H)
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code == 422:
        assert _documented(client, "/api/retention", 422) == "HTTPValidationError"
        assert r.json()["detail"][0]["loc"][0] == "query"
    elif r.status_code == 400:
        assert _documented(client, "/api/retention", 400) == "ErrorResponse" and isinstance(r.json()["detail"], str)
    else:
        body = r.json()
        assert all(isinstance(v, (int, float)) or v is None for v in body["bookings"].values())


def test_far_dates_count_as_the_nearest_supported_day(api_client):
    """0001-01-01 and 9999-12-31 are valid `format: date` values: answered (200), taken as
    1900-01-01 and 2199-12-31 (pandas holds 1677..2262 only; they crashed retention and influence)."""
    client, _ = api_client
    for as_of, used in (("9999-12-31", "2199-12-31"), ("0001-01-01", "1900-01-01")):
        r = client.get(f"/api/retention?as_of={as_of}", headers=H)
        assert r.status_code == 200 and r.json()["as_of"] == used
    far = client.get("/api/influence?start=0001-01-01&end=9999-12-31", headers=H)
    assert far.status_code == 200 and (far.json()["start"], far.json()["end"]) == ("1900-01-01", "2199-12-31")
    assert far.json()["rows"] == client.get("/api/influence", headers=H).json()["rows"]
    assert client.get("/api/retention?=null", headers=H).status_code == 200  # an unnamed parameter is ignored


@pytest.mark.parametrize("path", ["/api/deals/by/owner", "/api/retention", "/api/forecast", "/api/influence",
                                  "/api/funnel", "/api/accounts/in-market"])
@pytest.mark.parametrize("query", ["start=9999-12-31&end=9999-12-31", "start=0001-01-01", "end=0001-01-01",
                                   "revenue_type=upsell", "=null", "start=2026-01-01&end=2025-01-01"])
def test_no_read_endpoint_answers_outside_its_document(api_client, path, query):
    client, _ = api_client
    r = client.get(f"{path}?{query}", headers=H)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        template = "/api/deals/by/{dimension}" if path.startswith("/api/deals/by/") else path
        name = _documented(client, template, r.status_code)
        detail = r.json()["detail"]
        assert (name, type(detail)) == (("HTTPValidationError", list) if r.status_code == 422 else ("ErrorResponse", str))
