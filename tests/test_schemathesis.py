"""Property-based fuzzing of the whole OpenAPI document (read API and collector), in-process.

Checks: no 5xx, responses match their documented schemas and status codes. Bounded
(max_examples small) so CI stays fast. The app is built at import time because schemathesis
needs it to collect the operations (its fixture-based loader fails under pytest 9).
"""

from __future__ import annotations

import atexit
import base64
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from conftest import API_READ_KEY, API_WRITE_KEY, fill_api_store
from revline.api.app import close_app, create_app

_TMP = Path(tempfile.mkdtemp(prefix="revline-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
fill_api_store(_TMP / "store.duckdb")
APP = create_app(_TMP / "store.duckdb", write_key=API_WRITE_KEY, read_key=API_READ_KEY, derive=False)
atexit.register(close_app, APP)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

_WRITE = {"Authorization": "Basic " + base64.b64encode(f"{API_WRITE_KEY}:".encode()).decode()}
_READ = {"Authorization": f"Bearer {API_READ_KEY}"}


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(headers=_WRITE if case.path.startswith("/v1/") else _READ)
