"""The home feed as answered: built, rendered to bytes and kept for the fast path.

One function for the view and for the warm task, so that a stored document is always made the
same way (recommendations/fragments/documents.py explains the documents).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from django.contrib.auth.models import User

from recommendations.interactions.shown import shown_record

from .fragments import documents
from .selectors import home_feed_document


@dataclass(frozen=True)
class FeedAnswer:
    version: str
    body: bytes  # the document as sent (orjson), and as stored for the fast path


def feed_answer(*, user: User, client_version: int | None) -> FeedAnswer:
    """Build ``user``'s feed for ``client_version`` and keep it for the fast path."""
    # Read before the feed is built (documents.py explains why), stored after.
    generations = documents.generations(user_id=user.pk)
    result = home_feed_document(user=user, client_version=client_version)
    version: str = result.feed["version"]
    body = orjson.dumps(result.feed)
    shown_record(user_id=user.pk, sections=result.feed["sections"])  # events are checked against it
    if generations is not None:
        documents.store(
            user_id=user.pk,
            client_version=client_version,
            built_under=generations,
            valid_until=result.valid_until,
            etag=version,
            body=body,
        )
    return FeedAnswer(version=version, body=body)
