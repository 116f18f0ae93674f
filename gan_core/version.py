"""The version of gan_core, stored with every score and statistics file (a module of its own so that
the modules that record it do not import the package, which imports them)."""

__version__ = "0.1.0"
