"""Contract tests: ``depthblur serve`` against the real APIs' own OpenAPI files (issue 24).

schemathesis generates requests from Adobe's Photoshop API excerpt (depthBlur
and its status) and Photoroom's (``/v2/edit``), in ``tests/server/specs/`` with their
sources and licences, and from our own document; every answer must be no
server error (5xx) and, where the spec describes the answer's status, conform
to its schema (the error shapes of each API included). Bounded: a few dozen
requests per operation, well under a minute in all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error, response_schema_conformance  # noqa: E402
from test_serve import running  # noqa: E402

from depthblur_cli.server.app import ServerSettings, create_app  # noqa: E402

SPECS = Path(__file__).resolve().parent / "specs"
#: Requests generated per operation.
EXAMPLES = 25
_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same requests every run: a failure is reproducible
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def base():
    with running(ServerSettings(allow_download=False, timeout_s=30)) as (url, _):
        yield url


def _check(case, base: str) -> None:
    response = case.call(base_url=base, timeout=60)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


adobe = schemathesis.openapi.from_dict(json.loads((SPECS / "adobe_depthblur.json").read_text()))
photoroom = schemathesis.openapi.from_dict(json.loads((SPECS / "photoroom_edit.json").read_text()))
own = schemathesis.openapi.from_dict(create_app(ServerSettings(allow_download=False)).openapi())
for _schema in (adobe, photoroom, own):
    _schema.config.generation.update(deterministic=True)
# Photoroom's bodies carry binary files: schemathesis's negative mode cannot check its own mutations of
# them ("Unsupported type: 'Binary'", seen in some test orders), so its requests are the spec-valid ones.
photoroom.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])


@adobe.parametrize()
@_SETTINGS
def test_adobe_depth_blur_spec(case, base):
    _check(case, base)


@photoroom.parametrize()
@_SETTINGS
def test_photoroom_edit_spec(case, base):
    _check(case, base)


@own.parametrize()
@_SETTINGS
def test_our_own_document(case, base):
    """Our /openapi.json (as the server builds it) fuzzed against itself."""
    _check(case, base)
