"""Model changes that no announcement covers make feed documents out of date.

Announced changes (offers pushed by products, deals polled, templates published) bump the
document generations where fragments are invalidated (``fragments/__init__.py``). These
receivers cover what is saved through the ORM elsewhere, mostly the admin:

- a user saved or deleted (deactivated, removed): their documents, so that the fast path stops
  answering for them and the view, which checks the account, refuses the token (a change made
  without a signal, such as a queryset ``update()``, takes the same path within a second:
  account_changes.py);
- a product saved or deleted (renamed, reordered, deactivated): every document;
- an offer saved or deleted one by one (the admin, the demo seed): its user's documents;
- an offer dismissal recorded or deleted (interactions): its user's documents, so that the fast
  path stops serving the dismissed offer at once (the service also announces the dismissal).

Bumps run after the transaction commits, never before: a feed built between a bump and the
commit would be stored under the new generation with the old data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from products.models import Product
from recommendations.interactions.models import OfferDismissal

from ..models import Offer
from . import documents


def users_changed(*, user_ids: Iterable[int]) -> None:
    """These users' accounts changed (saved, deactivated, password changed, deleted): neither
    fast path may answer for them from what it knew before."""
    documents.bump_users(user_ids=user_ids)


@receiver(post_save, sender=get_user_model(), dispatch_uid="feed_documents.user_saved")
@receiver(post_delete, sender=get_user_model(), dispatch_uid="feed_documents.user_deleted")
def user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_id = instance.pk
    transaction.on_commit(lambda: users_changed(user_ids=[user_id]))


@receiver(post_save, sender=Product, dispatch_uid="feed_documents.product_saved")
@receiver(post_delete, sender=Product, dispatch_uid="feed_documents.product_deleted")
def product_changed(sender: Any, instance: Product, **kwargs: Any) -> None:
    transaction.on_commit(documents.bump_all)


@receiver(post_save, sender=OfferDismissal, dispatch_uid="feed_documents.dismissal_saved")
@receiver(post_delete, sender=OfferDismissal, dispatch_uid="feed_documents.dismissal_deleted")
@receiver(post_save, sender=Offer, dispatch_uid="feed_documents.offer_saved")
@receiver(post_delete, sender=Offer, dispatch_uid="feed_documents.offer_deleted")
def offer_changed(sender: Any, instance: Offer | OfferDismissal, **kwargs: Any) -> None:
    user_id = instance.user_id
    transaction.on_commit(lambda: documents.bump_user(user_id=user_id))
