from django.apps import AppConfig


class GanPlatformConfig(AppConfig):
    """The project package as an app only for its system checks (``gan_platform.checks``); it has
    no models."""

    name = "gan_platform"

    def ready(self) -> None:
        from gan_platform import checks  # noqa: F401  (registers them)
