"""Reading a request body with a size limit, shared by every route that takes one."""

from __future__ import annotations

from fastapi import Request

from gridledger.errors import Oversized


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with Oversized as soon as it passes ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Oversized(f"request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
