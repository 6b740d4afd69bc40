"""Analysis of evidence files, without Flask: archives, source code and test reports.

* :mod:`portfolio.analysis.archives` lists a ``.zip``/``.tar``/``.tar.gz`` archive within strict
  bounds (entries, sizes, compression ratio, paths) and summarises it (lines per language, tests);
* :mod:`portfolio.analysis.code` highlights a source file as HTML with Pygments;
* :mod:`portfolio.analysis.reports` reads JUnit XML test reports and Cobertura coverage safely.

Everything here works on bytes or streams in memory and never writes to disk; refusals carry a
reason code for programs and a French sentence for people.
"""
