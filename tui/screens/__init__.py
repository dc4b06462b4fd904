"""The dashboard's screens: main, peering detail, create form, guarded delete, help."""
