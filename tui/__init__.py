"""The Textual dashboard (imports peering_core, never the reverse)."""
