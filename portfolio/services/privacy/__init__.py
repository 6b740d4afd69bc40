"""The learner's own data (GDPR): access and portability (``exports``), erasure (``erasure``),
retention (``retention``), and what is declared about them (``policy``)."""
