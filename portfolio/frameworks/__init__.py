"""Certification frameworks shipped as data (``<CODE>.json``) and the readers of their formats.

``formats`` (one module a format; ``case`` for CASE 1.0) reads our own ``portfolio-framework/1``
JSON files and the France Compétences open-data export of RNCP fiches into the dataclasses of
``model``; it is pure Python and knows nothing of Flask or the database.
"""
