"""The `azure_blob` source's side of Azure Storage: the client (official `azure-storage-blob`), its
credentials, and what a failure means (throttled, refused credentials, missing container, outage).

The SDK's own retries are turned off: its storage retry policy neither retries 429 nor reads
`Retry-After`, and hidden retries would make `--once` wait for ever on an outage. The source retries
a failed poll itself, with backoff that honours `Retry-After`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient

from shipper.api import read_secret, retry_after as parse_retry_after


class BlobError(Exception):
    """A failed call, classified: `kind` for metrics and logs, `retry_after` in seconds if the server said."""

    kind = "error"

    def __init__(self, msg: str, retry_after: float | None = None):
        super().__init__(msg)
        self.retry_after = retry_after


class Throttled(BlobError):
    kind = "throttled"


class AuthFailed(BlobError):
    kind = "auth"


class ContainerMissing(BlobError):
    kind = "container_missing"


class Unavailable(BlobError):
    kind = "unavailable"


class ListingTooLong(BlobError):
    """A listing past `max_list_pages` pages: a service whose continuation tokens never end."""

    kind = "listing_too_long"


class Internal(BlobError):
    """A bug in the source itself, not an answer from Azure."""

    kind = "internal"


@dataclass
class Credentials:
    """Which of the four credential kinds the config chose, with the secret read from its file or env."""

    kind: str  # account_key, sas_token, connection_string, default
    value: Any = None
    account_name: str | None = None


def load_credentials(cfg, base_dir: str) -> Credentials:
    import os

    def path(p: str | None) -> str | None:
        return os.path.join(base_dir, os.path.expanduser(p)) if p else None

    if cfg.account_key_file or cfg.account_key_env:
        key = read_secret(path(cfg.account_key_file), cfg.account_key_env, "Azure storage account key")
        return Credentials("account_key", key, cfg.account_name)
    if cfg.sas_token_file or cfg.sas_token_env:
        sas = read_secret(path(cfg.sas_token_file), cfg.sas_token_env, "Azure SAS token")
        # never None: its file or variable is set (read_secret refuses an empty one)
        return Credentials("sas_token", (sas or "").lstrip("?"))
    if cfg.connection_string_file or cfg.connection_string_env:
        cs = read_secret(path(cfg.connection_string_file), cfg.connection_string_env, "Azure connection string")
        return Credentials("connection_string", cs)
    return Credentials("default")


class ServiceClock:
    """Azure Storage's clock, from the `Date` header of its answers: the clock its Last-Modified and
    creation times are on. The host's wall clock may step (NTP, a resumed VM, `date -s`); an hour
    closed on a host clock ahead of the service's would be closed while Azure still writes to it."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None  # (service's Unix time, time.monotonic() then)

    def saw(self, response: Any) -> None:
        """The pipeline's response hook: note the answer's `Date` (whole seconds, so never ahead)."""
        try:
            date = response.http_response.headers.get("Date")
            when = parsedate_to_datetime(date).timestamp() if date else None
        except (AttributeError, TypeError, ValueError, IndexError):
            return  # no usable Date: the service's time stays as last seen
        if when is not None:
            self._last = (when, time.monotonic())  # one assignment: read-ahead threads answer too

    def now(self) -> float | None:
        """The service's time now (its last Date plus the monotonic time since), None before any answer."""
        last = self._last
        return None if last is None else last[0] + (time.monotonic() - last[1])


def make_client(account_url: str | None, creds: Credentials, timeout: float,
                clock: ServiceClock | None = None) -> BlobServiceClient:
    hook: dict[str, Any] = {"raw_response_hook": clock.saw} if clock is not None else {}
    if creds.kind == "connection_string":
        return BlobServiceClient.from_connection_string(creds.value, retry_total=0, connection_timeout=timeout,
                                                        read_timeout=timeout, **hook)
    if account_url is None:  # the config refuses this (account_url is required without a connection string)
        raise BlobError("account_url is required unless connection_string_file or _env is given")
    if creds.kind == "account_key":
        cred: Any = {"account_name": creds.account_name, "account_key": creds.value}
    elif creds.kind == "sas_token":
        from azure.core.credentials import AzureSasCredential

        cred = AzureSasCredential(creds.value)
    else:
        try:  # imported only when used: azure-identity is optional and large
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise BlobError("no account_key_file, sas_token_file or connection_string_file given, and Azure's "
                            "default credential chain needs the azure-identity package (pip install azure-identity)")
        cred = DefaultAzureCredential()
    return BlobServiceClient(account_url, credential=cred, retry_total=0, connection_timeout=timeout,
                             read_timeout=timeout, **hook)


def _header(e: HttpResponseError, name: str) -> str | None:
    """A header of the answer that raised `e` (azure-core's type for the answer does not declare `headers`)."""
    headers = getattr(getattr(e, "response", None), "headers", None)
    return headers.get(name) if headers is not None else None


def _retry_after(e: HttpResponseError) -> float | None:
    # The project's one Retry-After parser (delta-seconds or an HTTP date), as the Elasticsearch output uses.
    return parse_retry_after(_header(e, "Retry-After") or _header(e, "retry-after"))


def classify(e: Exception, what: str) -> BlobError:
    """An SDK exception as a BlobError naming what was being done (`what`), never a secret."""
    if isinstance(e, BlobError):
        return e
    if isinstance(e, HttpResponseError):
        status = e.status_code
        code = getattr(e, "error_code", None) or _header(e, "x-ms-error-code")
        code = getattr(code, "value", code)  # the SDK's StorageErrorCode enum, or a plain string
        detail = f"{what}: HTTP {status}" + (f" {code}" if code else "")
        if status in (429, 503) or code in ("ServerBusy", "OperationTimedOut"):
            return Throttled(f"{detail} (throttled)", _retry_after(e))
        if status in (401, 403) or isinstance(e, ClientAuthenticationError):
            return AuthFailed(f"{detail}: the credentials were refused (a role with read on the containers, "
                              f"e.g. Storage Blob Data Reader, or a valid key/SAS is needed)")
        if status == 404 and code == "ContainerNotFound":
            return ContainerMissing(f"{detail}: container not found")
        if isinstance(e, ResourceNotFoundError):
            return BlobError(f"{detail}: not found")
        return Unavailable(f"{detail}", _retry_after(e))
    if isinstance(e, ClientAuthenticationError):  # e.g. DefaultAzureCredential found no identity
        return AuthFailed(f"{what}: {e}")
    if isinstance(e, (ServiceRequestError, ServiceResponseError)):
        return Unavailable(f"{what}: {type(e).__name__}: {_first_line(e)}")
    if isinstance(e, AzureError):
        return Unavailable(f"{what}: {type(e).__name__}: {_first_line(e)}")
    raise e


def _first_line(e: Exception) -> str:
    s = str(e).strip().splitlines()
    return s[0][:300] if s else ""


def listed(items, what: str, stop=None, max_pages: int | None = None):
    """Every item of an SDK listing, page by page. A continuation token the service already gave in
    this listing means it would hand the same pages out for ever (the SDK follows NextMarker without
    a check): that is an error naming the listing, not an endless poll. Ever-new tokens cannot be told
    from a long listing, so past `max_pages` pages the listing stops with an error naming the limit
    (`--once` would otherwise run for ever). A stop (event set) ends the listing early: it must not
    hold a SIGTERM."""
    pages = items.by_page()
    seen: set[str] = set()
    n = 0
    for page in pages:
        yield from page
        n += 1
        if stop is not None and stop.is_set():
            return
        token = pages.continuation_token
        if token:
            if token in seen:
                raise Unavailable(f"{what}: the service repeats continuation token {token[:60]!r}: "
                                  f"the listing would never end")
            if max_pages is not None and n >= max_pages:
                raise ListingTooLong(f"{what}: still more after {n} pages (max_list_pages): the service's "
                                     f"continuation tokens do not end; stopped (raise max_list_pages if the "
                                     f"container really holds that many names)")
            seen.add(token)
