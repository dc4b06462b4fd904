"""The embedded default: a moto server and the platform server on loopback, seeded.

``servers`` starts them (:class:`~peering_core.sandbox.servers.Sandbox`), ``seed`` builds the
demo story through the real APIs, ``command`` is ``peering-tui sandbox``. The sandbox sits
beside the platform, above the operator's library: the operator's modules never import it
(an import-linter contract), and this package imports nothing until one of them is asked for,
so the command line parses without the server stack installed.
"""
