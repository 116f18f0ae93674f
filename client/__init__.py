"""The ``atelier`` command-line client: submit and follow checkpoints over the REST API.

Depends on no Django and no torch.
"""
