"""The bridge's HTTP front ends on the appservice's web server: the provisioning API and the
web login page.

Modules: ``settings`` (the config keys), ``frontends`` (builds and mounts the front ends),
``errors`` (errcodes), ``backend`` (what the front ends may ask of the bridge),
``bridge_backend`` (that, on the running bridge),
``provisioning`` (the API, specified in ``openapi.yaml``), ``login_links`` (one-time links),
``login_page`` and ``pages`` (the page and its HTML). Import them directly: this package's
import stays light, because the config imports ``settings``.
"""
