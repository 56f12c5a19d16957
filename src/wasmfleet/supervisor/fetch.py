"""Downloads of module binaries, descriptions and data files, with limits and checksums."""

from __future__ import annotations

import hashlib

import httpx

from wasmfleet.core.errors import ChecksumMismatch, FetchFailed, PayloadTooLarge


async def fetch_bytes(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    limit: int,
    sha256: str | None = None,
) -> bytes:
    """GET ``url`` into memory, refusing more than ``limit`` bytes and a wrong sha256.

    ``what`` names the file in error messages ("the binary of module 'fibo'").
    """
    title = what[:1].upper() + what[1:]  # for messages that start with it
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    size = 0
    try:
        async with client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise FetchFailed(
                    f"Could not download {what} from {url}: the server answered "
                    f"{response.status_code} {response.reason_phrase}."
                )
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise PayloadTooLarge(_too_large(what, url, int(declared), limit))
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(_too_large(what, url, size, limit))
                digest.update(chunk)
                chunks.append(chunk)
    except httpx.TimeoutException:
        raise FetchFailed(
            f"Could not download {what} from {url}: no complete answer within the timeout."
        ) from None
    except httpx.HTTPError as err:
        reason = str(err) or type(err).__name__
        raise FetchFailed(
            f"Could not download {what} from {url}: {reason}. "
            "Check that the URL is reachable from this device."
        ) from None
    if sha256 is not None and digest.hexdigest() != sha256:
        raise ChecksumMismatch(
            f"{title} from {url} has sha256 {digest.hexdigest()}, but the deployment "
            f"expects {sha256}; the file changed or the URL is wrong."
        )
    return b"".join(chunks)


def _too_large(what: str, url: str, size: int, limit: int) -> str:
    return (
        f"{what[:1].upper() + what[1:]} from {url} is larger than the {limit}-byte limit "
        f"(at least {size} bytes); raise the limit in the supervisor's settings if intended."
    )
