"""Import from the Django system this service replaces: its users, clients and consumptions.

`source` reads the Django tables (PostgreSQL only), `service` judges every row and writes
through the other domains' services in one transaction; `energy-api import-django` runs it.
"""
