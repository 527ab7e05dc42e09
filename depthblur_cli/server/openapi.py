"""What ``depthblur serve``'s own OpenAPI document says of each operation: request bodies, parameters,
security and every status code, in the three APIs' own shapes.

The endpoints read their requests by hand (multipart forms with dotted
names, a JSON body checked against Adobe's rules), so FastAPI cannot infer
these; they are given here, once, and merged into each route
(``openapi_extra``) and into the document's components (:func:`complete`).
The document validates as OpenAPI 3.1 (``openapi-spec-validator``, in the tests).
"""

from __future__ import annotations

from typing import Any

_IMAGE = {"type": "string", "format": "binary"}
_FAPIHUB_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "request_id": {"type": "string"}},
        }
    },
}
_PHOTOROOM_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}},
}
_ADOBE_ERROR = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "code": {"type": "string"},
        "title": {"type": "string"},
        "details": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "reason": {"type": "string"}}},
        },
    },
}

SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "ApiKey", "description": "fapihub's key (--api-key)"},
    "XApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "Photoroom's and Adobe's key"},
}
SCHEMAS = {"FapihubError": _FAPIHUB_ERROR, "PhotoroomError": _PHOTOROOM_ERROR, "AdobeError": _ADOBE_ERROR}


def _errors(schema: str, statuses: dict[str, str], headers: dict | None = None) -> dict[str, Any]:
    ref = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    out: dict[str, Any] = {}
    for status, description in statuses.items():
        out[status] = {"description": description, "content": ref}
        if status == "429":
            out[status]["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return out


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": properties, "required": required}}
        },
    }


_EDIT_FIELDS = {
    "removeBackground": {"type": "boolean", "default": True},
    "background.blur.mode": {"type": "string", "enum": ["bokeh", "gaussian"]},
    "background.blur.radius": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.05, "default": 0.01},
    "background.color": {"type": "string", "description": "hex RRGGBB or RRGGBBAA, or a colour name"},
    "outputSize": {"type": "string", "description": "auto, originalImage, croppedSubject or WIDTHxHEIGHT"},
    "padding": {"type": "string", "description": "0..0.49, N% or Npx"},
    "export.format": {"type": "string", "enum": ["png", "jpeg", "jpg", "webp", "avif"], "default": "png"},
    "export.dpi": {"type": "number", "minimum": 72, "maximum": 1200},
}
_IMAGES = {
    "image/png": {"schema": _IMAGE},
    "image/jpeg": {"schema": _IMAGE},
    "image/webp": {"schema": _IMAGE},
    "image/avif": {"schema": _IMAGE},
}


def _edit_responses(more: dict[str, str]) -> dict[str, Any]:
    """``/v2/edit``'s responses: the image with its uncertainty score, or Photoroom's error shape."""
    statuses = {
        "400": "a bad or unsupported parameter",
        "403": "Unauthorized",
        "429": "busy",
        "500": "internal error",
        "503": "the model cannot be had",
        "504": "over the time limit",
    }
    statuses.update(more)
    image = {
        "description": "the edited image",
        "content": _IMAGES,
        "headers": {"x-uncertainty-score": {"schema": {"type": "number"}}},
    }
    return {"200": image, **_errors("PhotoroomError", dict(sorted(statuses.items())))}


OPERATIONS: dict[str, dict[str, Any]] = {
    "rembg_blur": {
        "requestBody": _form(
            {"image": _IMAGE, "radius": {"type": "integer", "minimum": 1, "maximum": 50}}, ["image", "radius"]
        ),
        "security": [{"ApiKey": []}],
        "responses": {
            "200": {"description": "the image, background blurred", "content": {"image/png": {"schema": _IMAGE}}},
            **_errors(
                "FapihubError",
                {
                    "400": "a bad field or image",
                    "401": "a missing or wrong key",
                    "413": "over the upload limit",
                    "429": "busy",
                    "500": "internal error",
                    "503": "the model cannot be had",
                    "504": "over the time limit",
                },
            ),
        },
    },
    "photoroom_edit": {
        "requestBody": _form({"imageFile": _IMAGE, **_EDIT_FIELDS}, ["imageFile"]),
        "security": [{"XApiKey": []}],
        "responses": _edit_responses({"413": "over the upload limit"}),
    },
    "photoroom_edit_url": {
        "parameters": [{"name": "imageUrl", "in": "query", "required": True, "schema": {"type": "string"}}]
        + [{"name": k, "in": "query", "required": False, "schema": v} for k, v in _EDIT_FIELDS.items()],
        "security": [{"XApiKey": []}],
        "responses": _edit_responses({"400": "a bad or unsupported parameter, or an imageUrl not allowed"}),
    },
    "depth_blur": {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["inputs", "outputs"],
                        "properties": {
                            "inputs": {"type": "array"},
                            "outputs": {"type": "array"},
                            "options": {"type": "object"},
                        },
                    }
                }
            },
        },
        "security": [{"XApiKey": []}],
        "responses": {
            "202": {"description": "the job, queued", "content": {"application/json": {"schema": {"type": "object"}}}},
            **_errors(
                "AdobeError",
                {
                    "400": "InputValidationError",
                    "403": "Forbidden",
                    "413": "body over 1 MB",
                    "429": "busy",
                    "500": "internal error",
                    "503": "the model cannot be had",
                },
            ),
        },
    },
    "depth_blur_status": {
        "parameters": [{"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}}],
        "security": [{"XApiKey": []}],
        "responses": {
            "200": {
                "description": "the job's document",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **_errors("AdobeError", {"403": "Forbidden", "404": "no such job", "500": "internal error"}),
        },
    },
}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (FastAPI's) with the security schemes and error schemas in its components; its
    operations' default 200-only responses replaced by :data:`OPERATIONS`' (merged by ``openapi_extra``)."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    components.setdefault("schemas", {}).update(SCHEMAS)
    return document
