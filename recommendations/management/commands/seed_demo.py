import os

from django.core.management.base import BaseCommand, CommandError, CommandParser

from homeservice.errors import ApplicationError
from recommendations.demo import DEMO_MARKETER, DEMO_PASSWORD, DEMO_USERS, demo_seed


class Command(BaseCommand):
    help = "Create or update the demo products, plans, deals, users and offers (DEBUG only; idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--simulator-url",
            default=os.environ.get("SIMULATOR_BASE_URL") or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}",
            help="Base URL of the product simulator the demo products' deals endpoints point at.",
        )
        parser.add_argument("--poll-interval", type=int, default=30, help="Demo products' poll interval (s).")

    def handle(self, *args: object, **options: object) -> None:
        try:
            counts = demo_seed(
                simulator_base_url=str(options["simulator_url"]),
                poll_interval_seconds=int(options["poll_interval"]),  # type: ignore[call-overload]
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {counts['products']} products; users {', '.join(DEMO_USERS)}, admin and "
                f"marketer {DEMO_MARKETER} (password {DEMO_PASSWORD})."
            )
        )
