"""Training recipes (YAML), kept apart from the code; a package only so that they ship with it."""
