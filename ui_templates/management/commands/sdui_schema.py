"""``manage.py sdui_schema``: write the JSON Schema derived from the component catalogue.

docs/sdui-schema.json is this command's output (``--output docs/sdui-schema.json``);
tests/ui_templates/test_api.py fails when the committed file differs from the current schema.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from homeservice.errors import ApplicationError
from ui_templates.api import SCHEMA_KINDS, ui_schema


def schema_text(kind: str) -> str:
    """The schema of ``kind`` as the command writes it: indented JSON, one trailing newline."""
    return json.dumps(ui_schema(kind=kind), indent=2, ensure_ascii=False) + "\n"


class Command(BaseCommand):
    help = "Write the JSON Schema of SDUI documents (or of template trees) derived from the component catalogue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            choices=list(SCHEMA_KINDS),
            default="document",
            help="document: rendered trees as clients receive them (default); template: template trees.",
        )
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args: object, **options: object) -> None:
        try:
            text = schema_text(str(options["kind"]))
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        output = options.get("output")
        if not output:
            self.stdout.write(text, ending="")
            return
        path = Path(str(output))
        try:
            path.write_text(text)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc}") from exc
        self.stderr.write(f"Wrote the {options['kind']} schema to {path}.")
