"""Photoshop API ``depthBlur``: ``POST /pie/psdService/depthBlur`` (202 with the status link) and
``GET /pie/psdService/status/{jobId}``, header ``x-api-key`` (a bad one 403); the jobs themselves in
:mod:`depthblur_cli.server.depth_jobs`; errors as ``{"type", "code", "title"}`` (Adobe's ``JobError``)."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from depthblur_cli.server.context import ServerContext, add_route
from depthblur_cli.server.depth_jobs import Jobs, ValidationFailed, validate_request, validation_body
from depthblur_cli.server.http import ApiError, declared_length, limited, photoshop_error

#: Largest depthBlur request body, bytes (the API's bodies are small JSON documents).
MAX_BODY = 1_000_000


def router(ctx: ServerContext) -> APIRouter:
    """The depthBlur endpoint and its jobs' status."""
    guard = ctx.guard(photoshop_error)
    jobs = Jobs(ctx.models, ctx.max_bytes, ctx.settings.timeout_s)

    @guard
    async def depth_blur(request: Request) -> Response:
        too_large = ApiError(413, "PayloadTooLarge", "the request body is over 1 MB")
        if declared_length(request) > MAX_BODY:
            raise too_large
        try:
            body = await limited(request, MAX_BODY, too_large).json()
        except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
            raise ApiError(400, "InputValidationError", "the body is not valid JSON") from None
        try:
            href, checked, outputs = validate_request(body, ctx.settings.allow_href)
        except ValidationFailed as exc:
            return JSONResponse(validation_body(exc), status_code=400)
        ctx.queue.enter()
        status_url = str(request.base_url) + "pie/psdService/status/{job_id}"
        job_id = jobs.create(href, outputs, status_url)

        def work() -> None:
            try:
                jobs.run(job_id, href, checked, outputs)
            finally:
                ctx.accepted.discard(threading.current_thread())

        thread = threading.Thread(target=ctx.queue.run, args=(work,), daemon=True, name=f"depthBlur-{job_id}")
        ctx.accepted.add(thread)
        thread.start()
        return JSONResponse({"_links": {"self": {"href": status_url.format(job_id=job_id)}}}, status_code=202)

    @guard
    async def depth_blur_status(request: Request) -> Response:
        doc = jobs.document(request.path_params["jobId"])
        if doc is None:
            raise ApiError(404, "FileNotFound", "no such job")
        return JSONResponse(doc)

    api = APIRouter(dependencies=[Depends(ctx.key_check(photoshop_error, "x-api-key", status=403))])
    add_route(api, "/pie/psdService/depthBlur", depth_blur, "POST", "Photoshop depthBlur", "depth_blur")
    add_route(api, "/pie/psdService/status/{jobId}", depth_blur_status, "GET", "a depthBlur job's status",
              "depth_blur_status")  # fmt: skip
    return api
