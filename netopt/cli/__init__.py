"""The commands: each parses its arguments and calls the library (:mod:`netopt.api`, :mod:`netopt.report`,
:mod:`netopt.landscape`, :mod:`netopt.hpo`); no library module imports one of them."""
