"""Software updates on the box: a separate process (``nic-edge updater``) beside ``serve``.

It must outlive the service it restarts and roll it back when the new version fails, so it
never runs inside ``serve`` and imports nothing of the engine.
"""
