from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from products.models import Product
from recommendations.ingestion import offer_streams_reset


class Command(BaseCommand):
    help = (
        "Reset a (user, product) stream of product events, so that the next event is applied whatever "
        "its sequence: for a product backend that restarted its numbering (docs/webhooks.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--product", required=True, help="The product's slug.")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--user", help="The user's username (or numeric id).")
        who.add_argument("--all-users", action="store_true", help="Every user's stream of the product.")

    def handle(self, *args: object, **options: object) -> None:
        product = Product.objects.filter(slug=str(options["product"])).first()
        if product is None:
            raise CommandError(f"No product {options['product']!r}.")
        user = None if options["all_users"] else _user(str(options["user"]))
        reset = offer_streams_reset(product=product, user=user)
        if not reset:
            whose = f"{user.get_username()} has no" if user is not None else "no user has a"
            self.stdout.write(f"Nothing to reset: {whose} {product.slug} stream yet.")
            return
        for username, sequence in reset.items():
            self.stdout.write(
                self.style.SUCCESS(
                    f"Reset {username}'s {product.slug} stream (last sequence {sequence}): "
                    "the next event is applied whatever its sequence."
                )
            )


def _user(given: str) -> User:
    user = User.objects.filter(username=given).first()
    if user is None and given.isdigit():
        user = User.objects.filter(pk=int(given)).first()
    if user is None:
        raise CommandError(f"No user {given!r} (a username or a numeric id).")
    return user
