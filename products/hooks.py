"""The one way ``products`` tells the rest of the house that something changed.

``products`` must not import the apps above it, so it sends a signal and they listen
(``recommendations`` connects in its ``AppConfig.ready``). Sent after the change is committed.

- ``deals_changed(sender=Product, product_slug=str)``: a product's generic deals changed, or
  were confirmed again after they had turned stale (so the feed shows them fresh again).
"""

from django.dispatch import Signal

deals_changed = Signal()
