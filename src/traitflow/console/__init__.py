"""The web console: static pages in this package, served by every worker, that use only
the admin API (``traitflow.admin``)."""
