"""Share links: the owner's pages and the shared pages a link opens.

The blueprint is ``views.bp``: this package imports none of its modules.
"""
