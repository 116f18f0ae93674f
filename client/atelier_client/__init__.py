"""The ``atelier`` command-line client: submit generator checkpoints and follow them over the REST API.

Standard library only: no Django, no torch. ``atelier_client.cli.main(argv)`` is the entry point,
:class:`atelier_client.api.AtelierApi` the HTTP layer.
"""

__version__ = "0.1.0"
