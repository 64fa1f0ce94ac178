"""What calls to product backends raise (backend_client.py), apart so the breakers can name them."""


class BackendError(Exception):
    """A product backend could not be reached or answered something we cannot use."""


class TransientBackendError(BackendError):
    """A failure worth retrying: unreachable, timed out, an answer of HTTP 5xx or 429, or the
    product's circuit breaker open."""
