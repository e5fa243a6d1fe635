"""The ticket app's pages, one module per page family; tickets/urls.py
names each view by its module."""
