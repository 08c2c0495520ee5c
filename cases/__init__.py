"""The domain app: returnees, cases and their stages, access scoping, audit and encryption."""
