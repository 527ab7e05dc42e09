"""Photoroom image editing: ``POST /v2/edit`` (multipart ``imageFile``) and ``GET /v2/edit?imageUrl=``
(only under ``--allow-href``), header ``x-api-key`` (``sandbox_`` keys too, a bad one 403); the parameters
as :mod:`depthblur_cli.server.photoroom` reads them; 200 with the image and ``x-uncertainty-score``;
errors as ``{"error": {"message"}}``. An extension: an optional ``mask`` file, the subject's matte (as
``--mask``)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from depthblur_cli.pipeline.options import BackgroundBlurOptions
from depthblur_cli.server import photoroom
from depthblur_cli.server.context import ServerContext, add_route
from depthblur_cli.server.depth_jobs import fetch_url, href_allowed
from depthblur_cli.server.http import ApiError, photoroom_error


def router(ctx: ServerContext) -> APIRouter:
    """The two ``/v2/edit`` endpoints."""
    guard = ctx.guard(photoroom_error)

    def render_edit(data: bytes, edit: photoroom.Edit, mask: bytes | None = None) -> tuple[bytes, float]:
        """A ``/v2/edit`` result: the file and its uncertainty score."""
        from depthblur_cli.imaging import codec
        from depthblur_cli.pipeline.photo import background_blur
        from depthblur_cli.pipeline.records import Record

        image = ctx.decode(data, "imageFile")
        result = "blur" if edit.blur else ("cutout" if edit.remove_background else "blur")
        options = BackgroundBlurOptions(
            mode=edit.blur or "gaussian",
            radius=edit.radius,
            result=result,
            mask=None if mask is None else ctx.decode_mask(mask),
        )
        if edit.blur is None and not edit.remove_background:  # nothing to change: the photo, exported
            rgb, alpha, matte = image.pixels, image.alpha, None
        else:
            rendered = background_blur(image, options, ctx.models, Record(input="imageFile"), reuse_input=True)
            rgb, alpha, matte = rendered.rgb, rendered.alpha, rendered.matte
        if edit.remove_background and alpha is not None:
            rgb, alpha = photoroom.lay_out(rgb, alpha, edit)
        if edit.fmt == "JPEG":
            alpha = None
        encoded = codec.encode_image(rgb, alpha, edit.fmt, quality=edit.quality, icc_profile=image.icc_profile,
                                     exif=image.exif)  # fmt: skip
        if edit.dpi is not None:
            encoded = photoroom.with_dpi(encoded, edit.fmt, edit.dpi)
        return encoded, (photoroom.uncertainty(matte) if matte is not None else -1.0)

    async def edit_response(params: Any, data: bytes, mask: bytes | None = None) -> Response:
        try:
            edit = photoroom.parse_edit(params)
        except photoroom.EditError as exc:
            raise ApiError(400, "invalid_parameter", str(exc)) from None
        encoded, score = await ctx.process(lambda: render_edit(data, edit, mask))
        return Response(encoded, media_type=edit.media_type, headers={"x-uncertainty-score": f"{score:g}"})

    @guard
    async def photoroom_edit(request: Request) -> Response:
        form = await ctx.read_form(request)
        data = await ctx.read_file(form, "imageFile")
        mask = await ctx.read_mask(form)
        fields = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
        fields.pop("mask", None)
        return await edit_response(fields, data, mask)

    @guard
    async def photoroom_edit_url(request: Request) -> Response:
        params = dict(request.query_params)
        url = params.pop("imageUrl", None)
        if not url:
            raise ApiError(400, "invalid_parameter", "imageUrl is required (GET /v2/edit reads the photo by URL)")
        if not href_allowed(url, ctx.settings.allow_href):
            raise ApiError(400, "invalid_parameter", "imageUrl is not under a prefix this server allows (--allow-href)")
        data = await anyio.to_thread.run_sync(lambda: fetch_url(url, ctx.max_bytes, ctx.settings.timeout_s))
        return await edit_response(params, data)

    api = APIRouter(dependencies=[Depends(ctx.key_check(photoroom_error, "x-api-key", status=403, sandbox=True))])
    add_route(api, "/v2/edit", photoroom_edit, "POST", "Photoroom image editing", "photoroom_edit")
    add_route(api, "/v2/edit", photoroom_edit_url, "GET", "Photoroom image editing, by URL", "photoroom_edit_url")
    return api
