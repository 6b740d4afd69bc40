"""Certification frameworks shipped as data (``<CODE>.json``) and the parsers that read them.

``formats`` reads our own ``portfolio-framework/1`` JSON files and the France Compétences
open-data export of RNCP fiches; it is pure Python and knows nothing of Flask or the database.
"""
