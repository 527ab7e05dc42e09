"""fapihub ``rembg/blur``: ``POST /v2/rembg/blur/`` with a multipart ``image`` and ``radius`` (integer
pixels, 1..50), header ``ApiKey``; 200 with the PNG; errors as ``{"error": {"code", "message", "request_id"}}``.
An extension: an optional ``mask`` file, the subject's matte (as ``--mask``)."""

from __future__ import annotations

from dataclasses import replace

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from depthblur_cli.errors import UsageError
from depthblur_cli.options import schema
from depthblur_cli.pipeline.options import BackgroundBlurOptions
from depthblur_cli.server.context import ServerContext, add_route
from depthblur_cli.server.http import ApiError, fapihub_error

#: fapihub's ``radius``, from the option schema.
RADIUS = schema.BY_KEY["rembg_radius"]


def router(ctx: ServerContext) -> APIRouter:
    """The fapihub endpoint (also without its trailing slash, left out of the schema)."""
    guard = ctx.guard(fapihub_error)

    def render(data: bytes, options: BackgroundBlurOptions, mask: bytes | None) -> bytes:
        from depthblur_cli.imaging import codec
        from depthblur_cli.pipeline.photo import background_blur
        from depthblur_cli.pipeline.records import Record

        image = ctx.decode(data, "image")
        if mask is not None:
            options = replace(options, mask=ctx.decode_mask(mask))
        rendered = background_blur(image, options, ctx.models, Record(input="image"), reuse_input=True)
        return codec.encode_image(rendered.rgb, rendered.alpha, "PNG", quality=95, icc_profile=image.icc_profile,
                                  exif=image.exif)  # fmt: skip

    @guard
    async def rembg_blur(request: Request) -> Response:
        form = await ctx.read_form(request)
        raw = form.get("radius")
        if raw is None:
            raise ApiError(400, "invalid_radius", f"the form field 'radius' ({RADIUS.bounds()} pixels) is missing")
        try:
            radius = RADIUS.check(int(str(raw)), "radius")
        except ValueError as exc:
            text = str(exc) if isinstance(exc, UsageError) else f"radius must be an integer, got {str(raw)[:40]!r}"
            raise ApiError(400, "invalid_radius", text) from None
        data = await ctx.read_file(form, "image")
        mask = await ctx.read_mask(form)
        options = BackgroundBlurOptions(mode="gaussian", radius=None, radius_px=float(radius))
        return Response(await ctx.process(lambda: render(data, options, mask)), media_type="image/png")

    api = APIRouter(dependencies=[Depends(ctx.key_check(fapihub_error, "ApiKey"))])
    add_route(api, "/v2/rembg/blur/", rembg_blur, "POST", "fapihub rembg/blur", "rembg_blur")
    add_route(api, "/v2/rembg/blur", rembg_blur, "POST", "fapihub rembg/blur", include_in_schema=False)
    return api
