"""REST API v1: staff endpoints and partner NGO endpoints, over the same services and
selectors as the pages."""
