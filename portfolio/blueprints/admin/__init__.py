"""The admin pages.

The blueprint is ``views.bp``: this package imports none of its modules, so that importing its forms
from another blueprint does not import its views.
"""
