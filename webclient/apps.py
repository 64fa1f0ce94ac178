from django.apps import AppConfig


class WebclientConfig(AppConfig):
    """The reference web client (web/, built by Vite into this app's static/webclient/)."""

    name = "webclient"
    verbose_name = "Web client"
